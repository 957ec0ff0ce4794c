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

# Chaos sweep without bugs (acceptance: 0 failures), e.g. just chaos scenarios/chaos-mixed.toml 1..200
chaos SCENARIO="scenarios/pod-identity-basic.toml" SEEDS="1..1000":
    cargo run --release -- chaos {{SCENARIO}} --seeds {{SEEDS}}

# Every planted bug against chaos-mixed (each should fail its invariant)
bugs:
    for b in $(cargo run --release -q -- chaos --list-bugs | cut -d' ' -f1); do cargo run --release -q -- chaos scenarios/chaos-mixed.toml --seeds 1..201 --bug $b --json; done

# The slow chaos tests (1,000 clean seeds per scenario)
chaos-clean:
    cargo test --release --test chaos -- --ignored
