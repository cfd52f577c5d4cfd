#!/bin/sh
# replay.sh: replays the committed fuzz corpora through the replay_<target>
# binaries that `make check` builds with the ordinary compiler, so an input
# that once crashed a parser keeps being tried.  Speaks TAP.
#
# Environment: REELGATE_SRCDIR is the source root (default: this script's
# ../..); the binaries are looked up under tests/fuzz/ in the current (build)
# directory.  To add a target, add its name to TARGETS.

srcdir=${REELGATE_SRCDIR:-$(dirname "$0")/../..}
TARGETS="form"

set -- $TARGETS
echo "1..$#"
n=0
for target in $TARGETS; do
	n=$((n + 1))
	bin=tests/fuzz/replay_$target
	corpus=$srcdir/tests/fuzz/corpus/$target
	files=$(find "$corpus" -type f ! -name '.*' 2>/dev/null | wc -l)
	files=$((files + 0))
	if [ ! -x "$bin" ]; then
		echo "not ok $n - $target corpus: $bin not built"
		continue
	fi
	if [ "$files" -eq 0 ]; then
		echo "not ok $n - $target corpus: no inputs in $corpus"
		continue
	fi
	if out=$("$bin" "$corpus" 2>&1); then
		echo "ok $n - $target corpus ($files files)"
	else
		echo "not ok $n - $target corpus ($files files)"
		printf '%s\n' "$out" | tail -n 40 | sed 's/^/# /'
	fi
done
