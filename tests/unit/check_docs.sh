#!/bin/sh
# check_docs.sh - the committed plugin pages in docs/plugins/ must match
# what `sluice --describe --markdown` generates from the option tables
# (regenerate them with `make docs`).  Prints TAP.
bin=${SLUICE_BIN:-src/sluice}
src=${SLUICE_SRCDIR:-.}
dirs=$(ls -d "$src"/plugins/*/ | xargs -n1 basename)
n=0
fail=0
for d in $dirs; do
    name=$("$bin" --plugin-name-of "$d") || continue
    n=$((n + 1))
    intro="$src/plugins/$d/README.md"
    [ -f "$intro" ] || intro=/dev/null
    want="$src/docs/plugins/$d.md"
    got=$("$bin" --describe "$name" --markdown --intro-file "$intro")
    if [ -f "$want" ] && [ "$got" = "$(cat "$want")" ]; then
        echo "ok $n - docs/plugins/$d.md is up to date"
    else
        echo "not ok $n - docs/plugins/$d.md is stale or missing (run make docs)"
        fail=1
    fi
done
echo "1..$n"
exit $fail
