# Helpers the demo scripts share; sourced, not run. The caller sets
# $work (a private temp directory) and $BIN before using operators.

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
show() { printf '    $ %s\n' "$*"; }
indent() { sed 's/^/    /'; }

# free_port prints a loopback port that nothing answers on.
free_port() {
	local p
	for _ in $(seq 50); do
		p=$((20000 + RANDOM % 20000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
	done
	echo "${0##*/}: no free port found" >&2
	exit 1
}

# make_operators NAME... gives each operator a gpg home of their own under
# $work and exports their public key to $work/NAME.asc, as each operator
# would on their own machine.
make_operators() {
	local who
	for who in "$@"; do
		mkdir -m 700 "$work/gpg-$who"
		GNUPGHOME=$work/gpg-$who gpg --batch --quiet --passphrase '' --pinentry-mode loopback \
			--quick-gen-key "${who^} <$who@example.com>" future-default default never 2>/dev/null
		GNUPGHOME=$work/gpg-$who gpg --batch --quiet --export --armor "$who@example.com" >"$work/$who.asc"
	done
}

# wait_uninitialized TRIES PAUSE -address A ... waits until every node
# answers (and is not initialized yet).
wait_uninitialized() {
	local tries=$1 pause=$2 n=$(( ($# - 2) / 2 ))
	shift 2
	for _ in $(seq "$tries"); do
		[ "$("$BIN/unseal" status "$@" 2>/dev/null | grep -c uninitialized)" = "$n" ] && return
		sleep "$pause"
	done
}
