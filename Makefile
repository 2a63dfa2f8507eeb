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

.PHONY: demo test tools style lint unit bench clean

$(STAMP): tools/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/requirements.txt
	touch $@

tools: $(STAMP)

# Template lint and formatting: part of `make test` (a few seconds).
style: tools
	$(VENV)/bin/cfn-lint template.yaml
	cargo fmt --all -- --check

# Unused-dependency checker, pinned, installed into .tools/ (a cargo binary, not a Python tool).
MACHETE_VERSION := 0.9.2
MACHETE := .tools/bin/cargo-machete
$(MACHETE):
	cargo install --locked --root .tools cargo-machete --version $(MACHETE_VERSION)

# style + clippy (warnings are errors) + no unused dependency. Not in `make test`: clippy
# re-checks every dependency under its own profile (minutes on a cold cache).
lint: style $(MACHETE)
	cargo clippy --workspace --all-targets -- -D warnings
	$(MACHETE)

test: tools style
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
	rm -rf $(VENV) target .tools
