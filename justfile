# credsim tasks. `just` lists them.

default:
    @just --list

# Run the built-in default scenario (or another: just run scenarios/x.toml --seed 7)
run *ARGS:
    cargo run --release -- run {{ARGS}}

# The test suite (what CI runs)
test:
    cargo test

# Lints, with the determinism rules in clippy.toml
lint:
    cargo clippy --workspace --all-targets -- -D warnings

# Determinism check: the same seed twice gives the same digest, another seed another digest
determinism SCENARIO="scenarios/irsa-basic.toml":
    cargo run --release -- run {{SCENARIO}} --seed 7 --json | grep digest
    cargo run --release -- run {{SCENARIO}} --seed 7 --json | grep digest
    cargo run --release -- run {{SCENARIO}} --seed 8 --json | grep digest

# Update insta snapshots after an intended change
snapshots:
    INSTA_UPDATE=always cargo test
