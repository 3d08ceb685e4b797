#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0
#
# The style gate, scripts/check-style.sh: each gate passes on the project,
# and each catches a problem injected into a copy of a project file
# (STYLE_ROOT points the gate at the copy).
#
# Needs the patched kernel tree (build/linux, or KTREE) for checkpatch.pl,
# kernel-doc and checker-valid.sh, and its configured, built output
# directory (build/kbuild, or KOUT) for sparse; sparse itself is built by
# scripts/fetch-sparse.sh when missing.

bats_require_minimum_version 1.5.0

setup_file() {
	# The sparse tests run make in the kernel output directory.
	export BATS_NO_PARALLELIZE_WITHIN_FILE=true
}

setup() {
	load '/usr/lib/bats/bats-support/load'
	load '/usr/lib/bats/bats-assert/load'
	# A failing part of a pipeline fails the whole pipeline.
	set -o pipefail
	REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	STYLE=$REPO/scripts/check-style.sh
	KTREE=${KTREE:-$REPO/build/linux}
	KOUT=${KOUT:-$REPO/build/kbuild}
	case $KTREE in /*) ;; *) KTREE=$REPO/$KTREE ;; esac
	case $KOUT in /*) ;; *) KOUT=$REPO/$KOUT ;; esac
	export KTREE KOUT
	NL=$'\n'
	ROOT=$BATS_TEST_TMPDIR/root
	mkdir -p "$ROOT"
}

need_tree() {
	[ -f "$KTREE/scripts/checkpatch.pl" ] ||
		fail "no patched kernel tree at $KTREE: run 'make tree' first (or set KTREE)"
}

need_kbuild() {
	need_tree
	[ -f "$KOUT/.config" ] && [ -f "$KOUT/vmlinux" ] ||
		fail "no configured, built kernel in $KOUT: run 'make kernel' first (or set KOUT)"
}

# Copy project files (paths relative to the repository) into $ROOT.
copy() {
	local f
	for f in "$@"; do
		mkdir -p "$ROOT/$(dirname "$f")"
		cp "$REPO/$f" "$ROOT/$f"
	done
}

# Number of the line that the next line appended to FILE will have.
next_line() {
	echo $(($(wc -l <"$1") + 1))
}

# --------------------------------------------------------------- usage --

@test "style: an unknown gate is a usage error" {
	run "$STYLE" no-such-gate
	assert_failure 2
	assert_output --partial "unknown gate 'no-such-gate'"
}

# ------------------------------------------------- checkpatch, files --

@test "style: checkpatch --strict -f is clean on every project C/H file" {
	need_tree
	run "$STYLE" checkpatch-files
	assert_success
	assert_output --partial "check-style: OK: checkpatch-files"
}

@test "style: checkpatch-files catches an injected style error" {
	need_tree
	copy mm/hvcarve.c mm/hvcarve_test.c mm/hvcarve.h
	local n
	n=$(next_line "$ROOT/mm/hvcarve.c")
	printf 'int hvcarve_style_probe(int x) \n{\n    return x;\n}\n' >>"$ROOT/mm/hvcarve.c"
	STYLE_ROOT=$ROOT run "$STYLE" checkpatch-files
	assert_failure
	assert_output --partial "mm/hvcarve.c:$n: ERROR: trailing whitespace"
	assert_output --partial "mm/hvcarve.c:$((n + 2)): WARNING: please, no spaces at the start of a line"
	assert_output --partial "FAILED: checkpatch-files"
}

# ----------------------------------------------- checkpatch, patches --

@test "style: checkpatch --strict is clean on every patches/*.patch" {
	need_tree
	run "$STYLE" checkpatch-patches
	assert_success
	assert_output --partial "check-style: OK: checkpatch-patches"
}

@test "style: checkpatch-patches checks git-tracked patches as patches" {
	need_tree
	local p
	local patches=("$REPO"/patches/*.patch)
	[ -f "${patches[0]}" ] || fail "no patches/*.patch in $REPO"
	p=patches/${patches[0]##*/}
	copy "$p"
	# Without a sign-off and with trailing whitespace on an added line.
	sed -i -e '/^Signed-off-by:/d' -e '0,/^+[^+]/s/^\(+[^+].*\)$/\1 /' "$ROOT/$p"
	# Tracked by git, as in the repository: checkpatch.pl must not fall
	# back to source-file mode (which knows no sign-offs).
	git -C "$ROOT" init -q
	git -C "$ROOT" add "$p"
	STYLE_ROOT=$ROOT run "$STYLE" checkpatch-patches
	assert_failure
	assert_output --regexp "(^|$NL)$p:[0-9]+: ERROR: Missing Signed-off-by: line\(s\)"
	assert_output --regexp "(^|$NL)$p:[0-9]+: ERROR: trailing whitespace"
	assert_output --partial "FAILED: checkpatch-patches"
}

# ---------------------------------------------------------- kernel-doc --

# The findings that stay are listed with their reasons; the list can neither
# hide another finding, nor keep an entry no finding matches, nor keep one
# without a reason.
@test "style: checkpatch findings are dropped only with a reason, and no reason goes stale" {
	need_tree
	# Every patch the list has an entry for.
	copy patches/checkpatch-justified.txt patches/0002-kexec-*.patch patches/0006-x86-e820-*.patch
	local p
	p=$(cd "$ROOT" && echo patches/0002-kexec-*.patch)
	# Tracked and committed by git, as in the repository (see the test
	# above; checkpatch.pl asks git about the branch).
	git -C "$ROOT" init -q
	git -C "$ROOT" add patches
	git -C "$ROOT" -c user.name=style -c user.email=style@localhost commit -qm patch
	STYLE_ROOT=$ROOT run "$STYLE" checkpatch-patches
	assert_success
	# Without its reason, the finding is back.
	sed -i 's/|kernel_kexec().*$/|/' "$ROOT/patches/checkpatch-justified.txt"
	STYLE_ROOT=$ROOT run "$STYLE" checkpatch-patches
	assert_failure
	assert_output --regexp "(^|$NL)$p:[0-9]+: CHECK: Avoid CamelCase: <Unlock>"
	# An entry for a finding that is not there fails the gate.
	copy patches/checkpatch-justified.txt
	echo '0002-kexec-*.patch|CHECK: no such finding|a reason' >>"$ROOT/patches/checkpatch-justified.txt"
	STYLE_ROOT=$ROOT run "$STYLE" checkpatch-patches
	assert_failure
	assert_output --partial "no longer found: 0002-kexec-*.patch|CHECK: no such finding"
}

@test "style: kernel-doc -Wall is clean and every non-static function is documented" {
	need_tree
	run "$STYLE" kernel-doc
	assert_success
	assert_output --partial "check-style: OK: kernel-doc"
}

@test "style: kernel-doc catches a wrongly documented parameter" {
	need_tree
	copy mm/hvcarve.c mm/hvcarve_test.c mm/hvcarve.h
	cat >>"$ROOT/mm/hvcarve.c" <<'EOF'

/**
 * hvcarve_style_probe() - a probe of the style gate
 * @y: not the parameter's name
 *
 * Return: @x.
 */
int hvcarve_style_probe(int x)
{
	return x;
}
EOF
	STYLE_ROOT=$ROOT run "$STYLE" kernel-doc
	assert_failure
	assert_output --regexp "mm/hvcarve.c:[0-9]+ .*'x' not described in 'hvcarve_style_probe'"
	assert_output --regexp "mm/hvcarve.c:[0-9]+ .*Excess function parameter 'y'"
	assert_output --partial "FAILED: kernel-doc"
}

@test "style: kernel-doc catches an undocumented non-static function" {
	need_tree
	copy mm/hvcarve.c mm/hvcarve_test.c mm/hvcarve.h
	local n
	n=$(next_line "$ROOT/mm/hvcarve.c")
	printf 'unsigned long\nhvcarve_style_probe(int x,\n\t\t    int y)\n{\n\treturn x + y;\n}\n' \
		>>"$ROOT/mm/hvcarve.c"
	printf 'static int hvcarve_style_quiet(void)\n{\n\treturn 0;\n}\n' >>"$ROOT/mm/hvcarve.c"
	STYLE_ROOT=$ROOT run "$STYLE" kernel-doc
	assert_failure
	assert_output --partial "mm/hvcarve.c:$((n + 1)): warning: non-static function hvcarve_style_probe() has no kernel-doc comment"
	refute_output --partial "hvcarve_style_quiet"
	assert_output --partial "FAILED: kernel-doc"
}

# -------------------------------------------------------------- sparse --

@test "style: sparse (C=2) reports nothing in the project files built" {
	need_kbuild
	run "$STYLE" sparse
	assert_success
	assert_output --partial "check-style: OK: sparse"
}

@test "style: sparse catches a __user pointer dereference" {
	need_kbuild
	copy mm/hvcarve.c mm/hvcarve_test.c mm/hvcarve.h
	local n
	n=$(next_line "$ROOT/mm/hvcarve.c")
	printf 'int hvcarve_style_probe(int __user *p);\n\nint hvcarve_style_probe(int __user *p)\n{\n\treturn *p;\n}\n' \
		>>"$ROOT/mm/hvcarve.c"
	STYLE_ROOT=$ROOT run "$STYLE" sparse
	assert_failure
	assert_output --regexp "(^|$NL)mm/hvcarve.c:$((n + 4)):[0-9]+: warning: dereference of noderef expression"
	assert_output --partial "FAILED: sparse"
}

@test "style: the sparse gate refuses a sparse that kbuild would ignore" {
	need_kbuild
	# Debian 12's sparse 0.6.4 errs on __typeof_unqual__ like this one.
	printf '#!/bin/sh\necho "$1:1:1: error: got typeof_unqual" >&2\n' >"$BATS_TEST_TMPDIR/sparse"
	chmod +x "$BATS_TEST_TMPDIR/sparse"
	SPARSE=$BATS_TEST_TMPDIR/sparse run "$STYLE" sparse
	assert_failure
	assert_output --partial "is rejected by $KTREE/scripts/checker-valid.sh"
	assert_output --partial "FAILED: sparse"
}

# ---------------------------------------------------------- shellcheck --

@test "style: shellcheck is clean on the scripts, the guest files and the bats helpers" {
	run "$STYLE" shellcheck
	assert_success
	assert_output --partial "check-style: OK: shellcheck"
}

@test "style: shellcheck catches an unquoted expansion and a bashism in guest sh" {
	mkdir -p "$ROOT/scripts"
	printf '#!/bin/sh\necho $1\n' >"$ROOT/scripts/probe.sh"
	copy tests/guest/lib.sh
	local n
	n=$(next_line "$ROOT/tests/guest/lib.sh")
	printf '[[ -n "$1" ]] && echo yes\n' >>"$ROOT/tests/guest/lib.sh"
	STYLE_ROOT=$ROOT run "$STYLE" shellcheck
	assert_failure
	assert_output --partial "scripts/probe.sh:2:6: note: Double quote to prevent globbing and word splitting. [SC2086]"
	assert_output --partial "tests/guest/lib.sh:$n:1: warning: In POSIX sh, [[ ]] is undefined. [SC3010]"
	assert_output --partial "FAILED: shellcheck"
}

# ----------------------------------------------------------- no-python --

# The interpreter's name, spelt so that this file does not trip the gate.
PY=pyth'on'

@test "style: no project file is Python or runs it" {
	run "$STYLE" no-python
	assert_success
	assert_output --partial "check-style: OK: no-python"
}

@test "style: no-python catches a .py file, a #! line and a command running Python" {
	mkdir -p "$ROOT/tests/lib" "$ROOT/scripts" "$ROOT/tools"
	printf 'print(1)\n' >"$ROOT/tests/lib/probe.py"
	printf '#!/usr/bin/env %s3\nprint(1)\n' "$PY" >"$ROOT/tools/probe"
	cat >"$ROOT/scripts/probe.sh" <<EOS
#!/bin/sh
# ${PY}3 in a comment is fine
echo ok
out=\$(${PY}3 -c "print(1)")
EOS
	printf 'load helpers\n@test "x" {\n\trun /usr/bin/%s3.11 -V\n}\n' "$PY" >"$ROOT/tests/probe.bats"
	STYLE_ROOT=$ROOT run "$STYLE" no-python
	assert_failure
	assert_output --partial "tests/lib/probe.py:1: error: a Python file"
	assert_output --partial "tools/probe:1: error: a Python script: #!/usr/bin/env ${PY}3"
	assert_output --partial "scripts/probe.sh:4: error: runs Python: out=\$(${PY}3 -c \"print(1)\")"
	assert_output --partial "tests/probe.bats:3: error: runs Python:"
	refute_output --partial "scripts/probe.sh:2"
	assert_output --partial "FAILED: no-python"
}

@test "style: no-python leaves patches/, documentation, comments and allowed lines alone" {
	mkdir -p "$ROOT/patches" "$ROOT/Documentation" "$ROOT/scripts"
	printf '+#!/usr/bin/env %s3\n' "$PY" >"$ROOT/patches/0001-probe.patch"
	printf 'Run %s3 setup.py\n' "$PY" >"$ROOT/Documentation/probe.rst"
	printf '%s3 -m venv\n' "$PY" >"$ROOT/NOTES.md"
	cat >"$ROOT/scripts/probe.sh" <<EOS
#!/bin/sh
	# ${PY}3 x
vmrun.py pyenv
/usr/bin/${PY}3 kdoc # python-gate: allowed (why)
EOS
	STYLE_ROOT=$ROOT run "$STYLE" no-python
	assert_success
	assert_output --partial "check-style: OK: no-python"
}
