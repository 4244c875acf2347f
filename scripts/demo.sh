#!/usr/bin/env bash
# The whole lifecycle on the local AWS, told as a story. Run it with `make demo`.
#
#   make ami -> set-ids management-dev -> rollout -> validate -> gate -> publish -> release
#   -> set-ids management refused (pinned) -> unpin --apply -> rollout + validate management
#   -> rollback (and a second one refused); the realistic estate (sandbox seed --estate
#   realistic): envs in two accounts, a SecretBinary secret per account through roles, the night
#   schedule and CPU alarms respected; one failure chapter: a revoked AMI (and its tested copy)
#   is refused at the gate; status, history.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work="$root/.cache/demo"
rm -rf "$work" && mkdir -p "$work"

export PROMOTE_SANDBOX_DIR="$work/sandbox"
export PROMOTE_CONFIG=""                  # the built-in estate: management-dev and management
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
export AWS_EC2_METADATA_DISABLED=true     # this laptop is not one of the instances
unset GITHUB_TOKEN GH_TOKEN               # releases go to a local git repository
bold=$'\e[1m'; dim=$'\e[2m'; off=$'\e[0m'
[ -t 1 ] || { bold=""; dim=""; off=""; }
started=$(date +%s)

chapter() { printf '\n%s== %s ==%s\n' "$bold" "$*" "$off"; }
say() { printf '%s%s%s\n' "$dim" "$*" "$off"; }
show() { printf '%s$' "$bold"; printf ' %q' "$@"; printf '%s\n' "$off"; }
run() {  # show the command, run it, show its exit code; a refusal is part of the story
  show "$@"
  set +e; "$@"; local rc=$?; set -e
  printf '%s(exit %d)%s\n' "$dim" "$rc" "$off"
  return 0
}
expect() {  # like run, but the story stops if the exit code is not the expected one
  local want=$1; shift
  show "$@"
  set +e; "$@"; local rc=$?; set -e
  printf '%s(exit %d)%s\n' "$dim" "$rc" "$off"
  if [ "$rc" != "$want" ]; then echo "demo: expected exit $want from: $*" >&2; exit 1; fi
}
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }
cleanup() { promote sandbox down >/dev/null 2>&1 || true; }
trap cleanup EXIT

chapter "1. The local AWS: a Concourse estate with no AWS account"
say "A moto server on a free loopback port, seeded with a base AMI, a VPC, launch templates,"
say "web + worker ASGs for management-dev (test) and management (production, pinned by a"
say "release manager), the ami-ids secret and the evidence bucket."
exports=$(promote sandbox up)
echo "$exports"
eval "$exports"
run promote status

chapter "2. Build an untested AMI (make ami: Packer against the local AWS)"
expect 0 make --no-print-directory ami
untested=$(json 'd["builds"][-1]["artifact_id"].split(":")[1]' < packer/manifest.json)
say "Packer made $untested, tagged promote:stage=untested."

chapter "3. Deploy it to the test environment only"
expect 0 promote set-ids --ami "$untested" --env management-dev
expect 0 promote rollout --env management-dev --interval 1s --timeout 5m

chapter "4. Prove management-dev runs it, then pass the gate"
expect 0 promote validate --env management-dev --timeout 1m --interval 2s
expect 0 promote gate --ami "$untested" --env management-dev

chapter "5. Publish the tested AMI and cut the release"
tested=$(promote publish --ami "$untested" --interval 1s)
say "Tested copy: $tested (promote:source-image=$untested). Publishing again finds it:"
expect 0 promote publish --ami "$untested"
git clone -q "$root" "$work/aws-concourse"
git -C "$work/aws-concourse" config user.email "releng@example.com"
git -C "$work/aws-concourse" config user.name "Release Engineering"
say "No GITHUB_TOKEN, so the release is an annotated tag + releases/<tag>.md in a clone:"
expect 0 promote release --ami "$tested" --git-repo "$work/aws-concourse"
cat "$work/aws-concourse"/releases/*.md

chapter "6. Production is pinned: nothing moves it but a release manager"
expect 3 promote set-ids --ami "$tested" --env management
say "Production proves what it runs today (its way back, should the new image misbehave):"
expect 0 promote validate --env management --timeout 1m --interval 2s
say "The release manager looks at what unpinning would do, then does it (one secret write):"
expect 0 promote unpin --env management --reason "Concourse 7.12.0 proven in management-dev"
expect 0 promote unpin --env management --reason "Concourse 7.12.0 proven in management-dev" --apply
expect 0 promote rollout --env management --interval 1s --timeout 5m
expect 0 promote validate --env management --timeout 1m --interval 2s
say "Say the new image misbehaves in production: rollback returns it to the image it ran"
say "before (the secret's AWSPREVIOUS entry, admitted by production's own SUCCESS record):"
expect 0 promote rollback --env management --reason "demo: INC-42" --dry-run
expect 0 promote rollback --env management --reason "demo: INC-42" --interval 1s --timeout 5m
say "A second rollback never returns to the image the first one left:"
expect 3 promote rollback --env management --dry-run

chapter "7. A harder estate: two accounts, a secret per account, the night schedule"
say "Like a Terraform-managed estate: management-dev in account 222222222222, management in"
say "333333333333 (reached through roles), each env's ami-ids secret in its own account as"
say "SecretBinary, the test env's workers scaled to 0 at 19:00 on weekdays, CPU alarms that"
say "scale by one. Seeding writes the promote.toml that fits it."
expect 0 promote sandbox seed --estate realistic --write-config "$work/realistic.toml"
export PROMOTE_CONFIG="$work/realistic.toml"
run promote status
expect 0 promote set-ids --ami "$tested" --env management-dev
say "The rollout suspends the schedule and the alarms on each group it rolls, and resumes"
say "exactly what it suspended:"
expect 0 promote rollout --env management-dev --interval 1s --timeout 5m
say "Night falls (the local AWS stores scheduled actions but never fires them; we do as AWS"
say "would: the night action sets the worker group to 0)."
python - <<'PY'
import boto3
sts = boto3.client("sts")
role = "arn:aws:iam::222222222222:role/concourse-ami-promoter"
c = sts.assume_role(RoleArn=role, RoleSessionName="night")["Credentials"]
autoscaling = boto3.client(
    "autoscaling",
    aws_access_key_id=c["AccessKeyId"],
    aws_secret_access_key=c["SecretAccessKey"],
    aws_session_token=c["SessionToken"],
)
autoscaling.set_desired_capacity(
    AutoScalingGroupName="concourse-worker-management-dev", DesiredCapacity=0
)
PY
say "An empty group proves nothing: validate names the cause and does not count it SUCCESS."
expect 3 promote validate --env management-dev --timeout 0
say "validate --wake raises the group for the check, then puts it back to 0:"
expect 0 promote validate --env management-dev --wake --timeout 2m --interval 2s
export PROMOTE_CONFIG=""

chapter "8. A revoked AMI is refused at the gate"
expect 0 promote revoke --ami "$untested" --reason "demo: CVE-2026-0001 in the kernel"
expect 3 promote gate --ami "$untested" --env management-dev
say "Running instances are untouched; status warns about every env that runs a revoked AMI."

chapter "9. Where everything is"
run promote status
run promote history

chapter "10. Stop the local AWS"
trap - EXIT
run promote sandbox down
say "The lifecycle took $(( $(date +%s) - started ))s."
