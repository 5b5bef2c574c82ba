# otelctx tasks. `just run` and `just test` create the virtual environment on first use.

set shell := ["bash", "-eu", "-o", "pipefail", "-c"]

python := env_var_or_default("PYTHON", "python3")
venv := ".venv"
bin := venv + "/bin"

# Run the server on SQLite (data in ./data), OTLP on :4317 (gRPC) and :8080 (HTTP)
run *ARGS: setup
    {{bin}}/otelctx serve {{ARGS}}

# Run the whole test suite (databases are started by .ci/run in CI)
test *ARGS: setup
    {{bin}}/pytest {{ARGS}}

# ruff and mypy --strict on the package and the load simulator
lint: setup
    {{bin}}/ruff check otelctx tests bench loadtest
    {{bin}}/ruff format --check otelctx loadtest
    {{bin}}/mypy otelctx loadtest

# Benchmarks that print the figures in docs/benchmarks.md
bench: setup-bench
    {{bin}}/python bench/bench_decode.py
    {{bin}}/python bench/bench_ingest.py
    {{bin}}/python bench/bench_graph.py

# Load run: a fresh otelctx (SQLite in a temporary directory, or DB_DRIVER/DB_DSN from the
# environment), 200 services x 50 spans/s for 60 s with --verify, then the healthy markers.
# Flags go to the simulator (`just loadtest --services 20 --protocol http`); with
# --endpoint no server is started.
loadtest *ARGS: setup
    {{bin}}/python -m loadtest.run_local {{ARGS}}

# Create .venv and install otelctx with its test and lint tools (only when pyproject.toml changed)
setup:
    #!/usr/bin/env bash
    set -euo pipefail
    if [ ! -x {{bin}}/python ]; then {{python}} -m venv {{venv}}; fi
    stamp={{venv}}/.installed
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        {{bin}}/python -m pip install -q --upgrade pip
        {{bin}}/python -m pip install -q -e '.[test,lint]'
        touch "$stamp"
    fi

setup-bench: setup
    #!/usr/bin/env bash
    set -euo pipefail
    stamp={{venv}}/.installed-bench
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        {{bin}}/python -m pip install -q -e '.[test,lint,bench]'
        touch "$stamp"
    fi
