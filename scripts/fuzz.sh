#!/usr/bin/env bash
# fuzz.sh runs every Fuzz target in the repository, one after another, each for a budget.
#
#   scripts/fuzz.sh                 # each target for 10s (make fuzz)
#   scripts/fuzz.sh -t 10m          # a longer run, e.g. nightly
#   scripts/fuzz.sh -t 1h FuzzCheckURL FuzzNumericHost   # only these targets
#
# Targets are discovered with `go test -list`, so a new Fuzz function is picked up without editing
# this script. New crashers land in the package's testdata/fuzz/<Target>/ directory: commit them
# with the fix so `go test` (and `make test`) replays them as seeds forever. Exit status is 1 when
# any target failed; the failing targets are listed at the end.
set -euo pipefail

budget=10s
while getopts "t:h" opt; do
	case $opt in
	t) budget=$OPTARG ;;
	*) sed -n '2,12p' "$0"; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
GO=${GO:-go}
cd "$(dirname "$0")/.."

# "pkg target" pairs: go test -list prints a package's matching names, then its "ok" line.
pairs=$($GO test -list '^Fuzz' ./... | awk '
	/^Fuzz/ { names[n++] = $1; next }
	/^ok / { for (i = 0; i < n; i++) print $2, names[i]; n = 0 }
')
if [ -z "$pairs" ]; then
	echo "fuzz.sh: no Fuzz targets found" >&2
	exit 1
fi

failed=()
count=0
while read -r pkg target; do
	if [ $# -gt 0 ]; then
		want=0
		for t in "$@"; do [ "$t" = "$target" ] && want=1; done
		[ $want = 1 ] || continue
	fi
	count=$((count + 1))
	echo "== $target ($pkg) for $budget"
	if ! $GO test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "$budget"; then
		failed+=("$target ($pkg)")
	fi
done <<<"$pairs"

echo "fuzz.sh: $count targets, ${#failed[@]} failed"
if [ ${#failed[@]} -gt 0 ]; then
	printf '  %s\n' "${failed[@]}"
	exit 1
fi
