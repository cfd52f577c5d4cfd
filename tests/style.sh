#!/bin/sh
# style.sh: the C of src/, tests/ and bench/ is laid out as the committed
# .clang-format says (STYLE.md), checked by clang-format itself.  Speaks TAP:
# one line per file that clang-format would change, or one line for all.
#   make check TESTS=tests/style.sh
#   clang-format -i FILE        puts a file right
# Environment: REELGATE_SRCDIR is the source root (default: ../ of this
# script); CLANG_FORMAT the program (default clang-format).

srcdir=${REELGATE_SRCDIR:-$(dirname "$0")/..}
cf=${CLANG_FORMAT:-clang-format}
if ! command -v "$cf" >/dev/null 2>&1; then
	echo "1..0 # SKIP $cf is not installed"
	exit 0
fi
cd "$srcdir" || exit 1
files=$(ls src/*.c src/*.h tests/unit/*.c tests/unit/*.h tests/fuzz/*.c tests/fuzz/*.h bench/*.c 2>/dev/null)
bad=
for f in $files; do
	"$cf" --dry-run -Werror "$f" >/dev/null 2>&1 || bad="$bad $f"
done
echo "1..1"
if [ -z "$bad" ]; then
	echo "ok 1 - $(echo $files | wc -w) C files laid out as .clang-format says"
else
	echo "not ok 1 - not laid out as .clang-format says (run clang-format -i on them):$bad"
fi
