#!/usr/bin/env bash
# Re-fetches the GraphiQL assets the binary embeds (src/http/graphiql.rs) from the npm registry
# at their pinned versions and checks them against SHA384SUMS. Run from anywhere:
#
#   bash graphiql/vendor/fetch.sh           fetch into a temp dir, compare with the files here
#   bash graphiql/vendor/fetch.sh --write   ... and replace the files here (only if they match)
#
# To move to new versions: change the versions below, run with --update (writes the files and a
# new SHA384SUMS), then update the `integrity` attributes in graphiql/index.html and the versioned
# paths in src/http/graphiql.rs (`cargo test --lib graphiql` tells you every value to change)
# and the table in graphiql/vendor/README.md (`--print` prints its rows).
set -euo pipefail

GRAPHIQL_VERSION=3.8.3
REACT_VERSION=18.3.1
REACT_DOM_VERSION=18.3.1

HERE="$(cd "$(dirname "$0")" && pwd)"
MODE="${1:-check}"

# package@version, file inside the package, file here
FILES=(
  "graphiql@$GRAPHIQL_VERSION graphiql.min.js graphiql.min.js"
  "graphiql@$GRAPHIQL_VERSION graphiql.min.css graphiql.min.css"
  "react@$REACT_VERSION umd/react.production.min.js react.production.min.js"
  "react-dom@$REACT_DOM_VERSION umd/react-dom.production.min.js react-dom.production.min.js"
)
LICENSES=(
  "graphiql@$GRAPHIQL_VERSION LICENSE.graphiql"
  "react@$REACT_VERSION LICENSE.react"
  "react-dom@$REACT_DOM_VERSION LICENSE.react-dom"
)

sri() { printf 'sha384-%s' "$(openssl dgst -sha384 -binary "$1" | base64 -w0)"; }

if [ "$MODE" = "--print" ]; then
  for entry in "${FILES[@]}"; do
    read -r package _ file <<<"$entry"
    printf '| `%s` | `%s` | `%s` |\n' "$package" "$file" "$(sri "$HERE/$file")"
  done
  exit 0
fi

WORK="$(mktemp -d -t graphiql-vendor.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
for package in "graphiql@$GRAPHIQL_VERSION" "react@$REACT_VERSION" "react-dom@$REACT_DOM_VERSION"; do
  tarball="$(npm pack --silent "$package")"
  mkdir -p "$package"
  tar -xzf "$tarball" -C "$package" --strip-components=1
done
mkdir out
for entry in "${FILES[@]}"; do
  read -r package inner file <<<"$entry"
  cp "$package/$inner" "out/$file"
done
for entry in "${LICENSES[@]}"; do
  read -r package file <<<"$entry"
  cp "$package/LICENSE" "out/$file"
done

case "$MODE" in
  check|--write)
    (cd out && sha384sum --check --strict "$HERE/SHA384SUMS")
    for entry in "${FILES[@]}"; do
      read -r _ _ file <<<"$entry"
      cmp "out/$file" "$HERE/$file" || { echo "$file here differs from the registry's" >&2; exit 1; }
    done
    if [ "$MODE" = "--write" ]; then cp out/* "$HERE/"; fi
    echo "all files match SHA384SUMS"
    ;;
  --update)
    cp out/* "$HERE/"
    (cd "$HERE" && sha384sum graphiql.min.js graphiql.min.css react.production.min.js react-dom.production.min.js >SHA384SUMS)
    echo "wrote new files and SHA384SUMS; now update the integrity attributes (see the top of this script)"
    ;;
  *)
    echo "usage: $0 [--write | --update | --print]" >&2
    exit 2
    ;;
esac
