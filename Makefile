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

.PHONY: demo test test-build tools style lint unit bench clean fuzz browser

# uv installs the pinned tools (pinned itself): the same wheels as pip, in a tenth of the time.
UV_VERSION := 0.13.9
UV_INSTALL = $(1)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION) && \
	$(1)/bin/uv pip install --quiet --system-certs --python $(1)/bin/python -r $(2)

$(STAMP): tools/requirements.txt
	python3 -m venv $(VENV)
	$(call UV_INSTALL,$(VENV),tools/requirements.txt)
	touch $@

tools: $(STAMP)

# checkov in a virtualenv of its own (its boto3 pin and aws-sam-cli's cannot share one).
CHECKOV_VENV := $(VENV)/checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(shell sha256sum tools/requirements-checkov.txt | cut -c1-12)
$(CHECKOV_STAMP): tools/requirements-checkov.txt
	python3 -m venv $(CHECKOV_VENV)
	$(call UV_INSTALL,$(CHECKOV_VENV),tools/requirements-checkov.txt)
	touch $@

# Template lint and formatting: part of `make test` (a few seconds).
style: tools
	$(VENV)/bin/cfn-lint template.yaml
	$(PY) tools/table_schema.py check
	$(PY) tools/template_checks.py
	$(PY) tools/check_events.py
	$(PY) tools/test_moto_serial.py
	$(PY) tools/test_iam_keys.py
	cargo fmt --all -- --check

# Unused-dependency checker, pinned, installed into .tools/ (a cargo binary, not a Python tool).
MACHETE_VERSION := 0.9.2
MACHETE := .tools/bin/cargo-machete
$(MACHETE):
	cargo install --locked --root .tools cargo-machete --version $(MACHETE_VERSION)

# style + checkov + clippy (warnings are errors) + no unused dependency. Not in `make test`: clippy
# re-checks every dependency under its own profile (minutes on a cold cache).
# Also the docs (every relative link and #anchor between the markdown files; offline, http(s)
# links are not fetched) and the GitHub workflows (jactionlint with the pinned shellcheck; the
# workflows pin actions by version tag, so its commit-SHA rule is off).
lint: style $(MACHETE) $(CHECKOV_STAMP)
	# The IaC scanner, every check on: findings are fixed, or suppressed in the resource's
	# Metadata with the reason (never a skip list here). --skip-download: offline, no platform.
	# SAM's own validation (its --lint is the cfn-lint that `style` already ran: here, not twice
	# in every `make test`).
	$(VENV)/bin/sam validate --lint --template-file template.yaml
	$(CHECKOV_VENV)/bin/checkov --skip-download --framework cloudformation -f template.yaml --compact --quiet
	$(VENV)/bin/lychee --offline --include-fragments --no-progress README.md docs events/README.md
	$(VENV)/bin/jactionlint --no-color --shellcheck=$(VENV)/bin/shellcheck --pyflakes= \
		--ignore unpinned-uses .github/workflows/*.yml
	cargo clippy --workspace --all-targets --all-features -- -D warnings
	# The API docs build clean: broken intra-doc links, bare URLs and stray HTML fail lint.
	RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps
	$(MACHETE)

# The suite runs with the product's logs on (KYC_TEST_LOG, --nocapture) and every byte it prints
# kept in $(PII_LOG); the personal-data scan then fails the build if a planted value is there.
PII_LOG := target/pii/test-output.log
PII_SCAN := cargo run --quiet -p pii-scan -- --planted testkit/pii-scan/planted.tsv \
	--inputs events tests testkit shared functions cli --output $(PII_LOG)

# The suite also notes every DynamoDB key each function touches (target/iam-keys); the IAM key
# check then fails the build if one is outside the function's role (moto does not enforce IAM).
# A real headless browser for the evidence bundle's summary.html (cli/tests/cli/verify.rs): Debian's
# chromium, installed when missing.
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium)

# The template and format checks run beside the test build; tools/run_tests.py then runs the test
# binaries side by side (one per core) with the product's logs on, all output kept in $(PII_LOG).
test: tools browser
	@mkdir -p $(dir $(PII_LOG))
	rm -rf target/iam-keys
	$(MAKE) --no-print-directory -j2 --output-sync=target style test-build
	KYC_TEST_LOG=debug $(PY) tools/run_tests.py --log $(PII_LOG)
	$(PII_SCAN)
	$(PY) tools/iam_keys.py check template.yaml target/iam-keys

# The scanner is built with the tests (it runs once they end).
test-build:
	cargo test --workspace --no-run
	cargo build -p pii-scan

demo: tools
	./tools/demo.sh

# Every step writes target/bench-results/<name>.json; the last prints one table (figure, goal,
# measured, pass/fail) and fails on a missed goal. The runs take about 10 minutes on 2 cores
# (the Xpollens load run at the issue's full 10,000 callbacks, about 3 of them); the release
# builds before them take longer from a cold cache (README, "Benchmarks").
FUNCTION_BINS := xpollens-callback xpollens-queue-drain trust-sign-archive gopay-consent gopay-sync state-publisher kyc-read-api
bench: tools
	rm -rf target/bench-results
	# The builds first, in three invocations (each resolves its own features once): the harness
	# binaries (profile bench-tools, no LTO), the hello-world baseline, then the seven functions
	# as they are packaged (release: their sizes and cold start).
	cargo build --profile bench-tools -p kyc-integration-tests --features bench --bins
	cargo build --release -p lambda-harness --bins
	cargo build --release $(addprefix -p ,$(FUNCTION_BINS)) --bins
	@date +%s > target/bench-results.started
	cargo bench -p xpollens-callback --bench callback_cpu -- --warm-up-time 1 --measurement-time 2
	cargo run --profile bench-tools -p kyc-integration-tests --features bench --bin measure-aws-calls
	cargo run --profile bench-tools -p kyc-integration-tests --features bench --bin decision-latency-bench -- 50
	cargo run --profile bench-tools -p kyc-integration-tests --features bench --bin evidence-seal-bench -- 10000
	cargo run --profile bench-tools -p kyc-integration-tests --features bench --bin gopay-sync-twin-bench
	cargo run --profile bench-tools -p kyc-integration-tests --features bench --bin gopay-sync-bench -- 2000 32
	cargo run --profile bench-tools -p kyc-integration-tests --features bench --bin xpollens-drain-bench -- 300
	cargo run --profile bench-tools -p kyc-integration-tests --features bench --bin xpollens-load -- --count 10000 --senders 64
	cargo bench -p kyc-trust-sign --bench trust_sign_report
	cargo run --profile bench-tools -p kyc-integration-tests --features bench --bin bench-trust-sign-archive -- 10240 209715200
	# Cold start: release binaries under the local Runtime API harness (target/bench-results/coldstart.json).
	cargo run --profile bench-tools -p kyc-integration-tests --features bench --bin coldstart-bench
	cargo run --profile bench-tools -p kyc-integration-tests --features bench --bin bench-summary -- sizes $(FUNCTION_BINS)
	@echo "make bench: $$(( $$(date +%s) - $$(cat target/bench-results.started) )) s of runs after the release builds"
	cargo run --profile bench-tools -p kyc-integration-tests --features bench --bin bench-summary

# Fuzzing (nightly + cargo-fuzz/libFuzzer): every target FUZZ_SECONDS, then a table.
FUZZ_SECONDS ?= 30
FUZZ_TARGETS := zip_locate report_json xpollens_event xpollens_body dates gopay_answer gopay_consent_query
CARGO_FUZZ_VERSION := 0.13.2
CARGO_FUZZ := .tools/cargo-fuzz-$(CARGO_FUZZ_VERSION)/bin/cargo-fuzz

$(CARGO_FUZZ):
	cargo install cargo-fuzz --locked --version $(CARGO_FUZZ_VERSION) --root .tools/cargo-fuzz-$(CARGO_FUZZ_VERSION)

fuzz: $(CARGO_FUZZ)
	CARGO_FUZZ=$(CARGO_FUZZ) ./tools/fuzz.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

clean:
	rm -rf $(VENV) target .tools
