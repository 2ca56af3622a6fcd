#!/usr/bin/env bash
# Editor checks, as CI runs them (.ci/run calls this script):
#   1. check-jsonschema validates the example policies against schema/orgplan.schema.json
#      and their tests (*.test.yaml) against schema/orgplan-test.schema.json (and both
#      schemas against the draft-07 metaschema, and rejects the broken fixtures);
#   2. tests/editor/lsp_check.mjs drives the real yaml-language-server over stdio.
# Pinned tools go to target/ci-tools/ (ignored by git) and are reused when already at the
# pinned versions: yaml-language-server from tests/editor/package-lock.json (npm ci),
# check-jsonschema from tests/editor/requirements.txt (a venv). Needs node >= 20, npm,
# python3 >= 3.11 and the registries; no other network.
set -euo pipefail
cd "$(dirname "$0")/../.."

TOOLS=target/ci-tools
export PIP_DISABLE_PIP_VERSION_CHECK=1 npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
start=$(date +%s)
mkdir -p "$TOOLS"

# yaml-language-server: reinstall when the committed lock differs from the installed one.
if ! cmp -s tests/editor/package-lock.json "$TOOLS/package-lock.json" \
  || [ ! -x "$TOOLS/node_modules/.bin/yaml-language-server" ]; then
  echo "-- installing yaml-language-server (tests/editor/package-lock.json) into $TOOLS"
  cp tests/editor/package.json tests/editor/package-lock.json "$TOOLS/"
  npm ci --prefix "$TOOLS" --no-audit --no-fund --loglevel=error
fi
echo "-- yaml-language-server $(node -p "require('./$TOOLS/node_modules/yaml-language-server/package.json').version")"

# check-jsonschema: reinstall when the committed requirements differ from the installed ones.
VENV="$TOOLS/venv"
if ! cmp -s tests/editor/requirements.txt "$VENV/requirements.txt" || [ ! -x "$VENV/bin/check-jsonschema" ]; then
  echo "-- installing check-jsonschema (tests/editor/requirements.txt) into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet -r tests/editor/requirements.txt
  cp tests/editor/requirements.txt "$VENV/requirements.txt"
fi
"$VENV/bin/check-jsonschema" --version

echo "-- check-jsonschema: the schemas are valid draft-07"
"$VENV/bin/check-jsonschema" --check-metaschema schema/orgplan.schema.json schema/orgplan-test.schema.json
# Policy files and test files (*.test.yaml) each against their own schema.
policy_files() { find "$@" -maxdepth 1 -name '*.yaml' ! -name '*.test.yaml' | sort; }
test_files() { find "$@" -maxdepth 1 -name '*.test.yaml' | sort; }
echo "-- check-jsonschema: the example policies match the schema"
# shellcheck disable=SC2046 # file names without spaces, one per word
"$VENV/bin/check-jsonschema" --schemafile schema/orgplan.schema.json \
  $(policy_files policies tests/fixtures/team-plan tests/fixtures/editor-tests)
echo "-- check-jsonschema: the example tests match the test schema"
# shellcheck disable=SC2046
"$VENV/bin/check-jsonschema" --schemafile schema/orgplan-test.schema.json $(test_files policies)
echo "-- check-jsonschema: the broken editor fixtures do not"
if "$VENV/bin/check-jsonschema" --schemafile schema/orgplan.schema.json tests/fixtures/editor/*.yaml >/dev/null; then
  echo "check-jsonschema accepted tests/fixtures/editor/, which has schema errors" >&2
  exit 1
fi
# shellcheck disable=SC2046
if "$VENV/bin/check-jsonschema" --schemafile schema/orgplan-test.schema.json $(test_files tests/fixtures/editor-tests) >/dev/null; then
  echo "check-jsonschema accepted tests/fixtures/editor-tests/, which has schema errors" >&2
  exit 1
fi

# The CLI whose diagnostics the language server must agree with (debug build).
if [ -z "${ORGPLAN_BIN:-}" ]; then
  cargo build --locked --quiet
fi

echo "-- yaml-language-server over stdio (tools ready after $(( $(date +%s) - start )) s)"
node tests/editor/lsp_check.mjs
