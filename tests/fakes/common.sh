# Sourced by the fakes: records the task JSON (stdin), a few REELGATE_*
# variables and the pid in DIR ($1), named after REELGATE_ID.
fake_dir=$1
mkdir -p "$fake_dir" || exit 97
: "${REELGATE_ID:?REELGATE_ID not set}"
: "${REELGATE_OUTPUT:?REELGATE_OUTPUT not set}"
cat >"$fake_dir/$REELGATE_ID.json.tmp" &&
	mv -f "$fake_dir/$REELGATE_ID.json.tmp" "$fake_dir/$REELGATE_ID.json"
for v in ID SECONDS WIDTH HEIGHT FPS SEED IMAGE OUTPUT MODEL; do
	eval "printf '%s=%s\n' $v \"\${REELGATE_$v-}\""
done >"$fake_dir/$REELGATE_ID.env"
echo $$ >"$fake_dir/$REELGATE_ID.pid"
