#!/usr/bin/env bash
# The lifecycle on the local AWS, told as a story. Run it with `make demo`.
set -euo pipefail
cd "$(dirname "$0")/.."

export PROMOTE_SANDBOX_DIR="${PROMOTE_SANDBOX_DIR:-$PWD/.cache/demo-sandbox}"
export PROMOTE_CONFIG=""                 # the built-in estate: management-dev and management
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
bold=$'\e[1m'; dim=$'\e[2m'; off=$'\e[0m'
[ -t 1 ] || { bold=""; dim=""; off=""; }

chapter() { printf '\n%s== %s ==%s\n' "$bold" "$*" "$off"; }
say() { printf '%s%s%s\n' "$dim" "$*" "$off"; }
run() {  # show the command, run it, show its exit code; a non-zero exit is part of the story
  printf '%s$ %s%s\n' "$bold" "$*" "$off"
  set +e; "$@"; local rc=$?; set -e
  printf '%s(exit %d)%s\n' "$dim" "$rc" "$off"
  return 0
}
cleanup() { promote sandbox down >/dev/null 2>&1 || true; }
trap cleanup EXIT

chapter "1. Start the local AWS and seed a Concourse estate"
say "A moto server on a free loopback port: a base AMI, a VPC, launch templates, web + worker"
say "ASGs for management-dev (test) and management (production, pinned), the ami-ids secret"
say "and the evidence bucket. The same commands run unchanged against real AWS."
exports=$(promote sandbox up)
echo "$exports"
eval "$exports"

chapter "2. What is where"
run promote status
untested=$(promote -o json status --env management-dev | python3 -c 'import json,sys; print(json.load(sys.stdin)["envs"][0]["secret_ami"])')
tested=$(promote -o json status --env management | python3 -c 'import json,sys; print(json.load(sys.stdin)["envs"][0]["secret_ami"])')
say "management-dev is set to the untested AMI $untested; management runs the tested $tested."

chapter "3. Prove management-dev runs the AMI the secret names"
say "Every ASG at its full desired count, every instance InService and running on the AMI."
run promote validate --env management-dev --timeout 30s --interval 2s

chapter "4. The same AMI is not what production runs: FAILED, with one reason per instance"
run promote validate --env management --ami "$untested" --timeout 4s --interval 2s

chapter "5. The gate opens only on SUCCESS evidence"
run promote gate --ami "$untested" --env management-dev
run promote gate --ami "$untested" --env management

chapter "6. The evidence ledger: one immutable record per check"
run promote status
say "Existing pipelines still read results/concourse.test (the latest check)."

chapter "7. Stop the local AWS"
trap - EXIT
run promote sandbox down
