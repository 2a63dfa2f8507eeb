# kyc-hooks: `make demo` runs the product locally, `make test` runs every test.
# Both install what they need (pinned Python tools in .venv) on a fresh machine.

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha256sum tools/requirements.txt | cut -c1-12)

# Every local run talks to a loopback moto server only; never to instance metadata.
export AWS_EC2_METADATA_DISABLED := true
export AWS_REGION := eu-west-3
export AWS_DEFAULT_REGION := eu-west-3
export AWS_ACCESS_KEY_ID := test
export AWS_SECRET_ACCESS_KEY := test
export CARGO_TERM_COLOR := never
# SAM CLI must not phone home (offline machines, CI).
export SAM_CLI_TELEMETRY := 0

.PHONY: demo test tools lint unit bench clean

$(STAMP): tools/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/requirements.txt
	touch $@

tools: $(STAMP)

lint: tools
	$(VENV)/bin/cfn-lint template.yaml
	$(VENV)/bin/sam validate --lint --template-file template.yaml
	$(PY) tools/table_schema.py check
	$(PY) tools/template_checks.py
	cargo fmt --all -- --check

test: tools lint
	cargo test --workspace --no-fail-fast

demo: tools
	./tools/demo.sh

bench: tools
	cargo bench -p kyc-shared --no-default-features --bench callback_cpu
	cargo run --release -p kyc-integration-tests --bin measure-aws-calls
	cargo run --release -p kyc-integration-tests --bin gopay-sync-twin-bench
	cargo run --release -p kyc-integration-tests --bin gopay-sync-bench
	cargo run --release -p kyc-integration-tests --bin xpollens-drain-bench
	cargo bench -p kyc-shared --no-default-features --features trust_sign --bench trust_sign_report

clean:
	rm -rf $(VENV) target
