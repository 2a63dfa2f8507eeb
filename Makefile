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

# Every step writes target/bench-results/<name>.json; the last prints one table (figure, goal,
# measured, pass/fail) and fails on a missed goal. Sized for < 15 minutes on 2 cores: moto
# serves one request at a time, so the moto runs use documented smaller counts than the
# standalone runs (README, "Proof").
FUNCTION_BINS := xpollens-callback xpollens-queue-drain trust-sign-archive gopay-consent gopay-sync state-publisher kyc-read-api
bench: tools
	rm -rf target/bench-results
	cargo bench -p kyc-shared --no-default-features --bench callback_cpu -- --warm-up-time 1 --measurement-time 2
	cargo run --release -p kyc-integration-tests --bin measure-aws-calls
	cargo run --release -p kyc-integration-tests --bin gopay-sync-twin-bench
	cargo run --release -p kyc-integration-tests --bin gopay-sync-bench -- 2000 32
	cargo run --release -p kyc-integration-tests --bin xpollens-drain-bench -- 150
	cargo run --release -p kyc-integration-tests --bin xpollens-load -- --count 1000
	cargo bench -p kyc-shared --no-default-features --features trust_sign --bench trust_sign_report
	cargo run --release -p kyc-integration-tests --bin bench-trust-sign-archive -- 10240 209715200
	cargo build --release $(addprefix -p ,$(FUNCTION_BINS)) --bins
	cargo run --release -p kyc-integration-tests --bin bench-summary -- sizes $(FUNCTION_BINS)
	cargo run --release -p kyc-integration-tests --bin bench-summary

clean:
	rm -rf $(VENV) target
