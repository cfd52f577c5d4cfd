#!/bin/sh
# replay.sh: replays every committed fuzz corpus, tests/fuzz/corpus/TARGET/,
# through the replay_TARGET binary that `make check` builds with the ordinary
# compiler (fuzz_TARGET.c + replay.c), so an input that once crashed a parser
# keeps being tried.  Speaks TAP: one line per target,
#   ok N - TARGET corpus (K files)
#
# Environment: REELGATE_SRCDIR is the source root (default: this script's
# ../..); the binaries are looked up under tests/fuzz/ in the current (build)
# directory.  A target is any directory under tests/fuzz/corpus/; a corpus
# without its binary is a failure (add the binary to check_PROGRAMS).

srcdir=${REELGATE_SRCDIR:-$(dirname "$0")/../..}
corpora=$srcdir/tests/fuzz/corpus

targets=
for dir in "$corpora"/*/; do
	[ -d "$dir" ] || continue
	targets="$targets $(basename "$dir")"
done

set -- $targets
if [ $# -eq 0 ]; then
	echo "1..0 # SKIP no corpus under $corpora"
	exit 0
fi
echo "1..$#"
n=0
for target in $targets; do
	n=$((n + 1))
	bin=tests/fuzz/replay_$target
	corpus=$corpora/$target
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
