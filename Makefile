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

.PHONY: demo test tools lint unit bench clean

$(STAMP): tools/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/requirements.txt
	touch $@

tools: $(STAMP)

lint: tools
	$(VENV)/bin/cfn-lint template.yaml
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
	# Cold start: release binaries under the local Runtime API harness (target/bench-results/coldstart.json).
	cargo build --release -p kyc-integration-tests -p xpollens-callback -p lambda-harness --bins
	cargo run --release -p kyc-integration-tests --bin coldstart-bench

clean:
	rm -rf $(VENV) target
