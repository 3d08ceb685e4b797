#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0
#
# The in-kernel KUnit suites run in boots with kunit.enable=1. Parse
# their KTAP from the console: every expected suite must be there, with at
# least its known number of tests, and none may fail.

load helpers
load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

# suite name and the number of test cases it has (parameterised cases
# count once, as KTAP reports them at the suite level).
SUITES="hvcarve_parse:4 hvcarve_pool:9 hvcarve_learn:12 hvcarve_cold:2 hvcarve_withdraw:1 hv_proc_deposit:4"

teardown() {
	hvt_teardown
}

# ktap_suite NAME: "RESULT PASS FAIL SKIP TOTAL" of one top-level suite:
# the counts of its "# NAME: pass:" line, or, where KUnit prints none (a
# suite of one case), of its case result lines.
ktap_suite() {
	console_log | sed -E 's/^\[ *[0-9.]+\] //' | awk -v s="$1" '
		done { next }
		$0 == "    # Subtest: " s { in_s = 1; next }
		in_s && /^    (not )?ok [0-9]+ / {
			c["total"]++
			if ($1 == "not") c["fail"]++
			else if (/# SKIP/) c["skip"]++
			else c["pass"]++
		}
		in_s && /^# [a-z_]+: pass:/ {
			n = split($0, f, /[: ]+/)
			for (i = 1; i < n; i++) v[f[i]] = f[i + 1]
			counts = v["pass"] " " v["fail"] " " v["skip"] " " v["total"]
		}
		in_s && /^(not )?ok [0-9]+ / {
			res = ($1 == "ok") ? "ok" : "not_ok"
			if (counts == "")
				counts = sprintf("%d %d %d %d", c["pass"], c["fail"], c["skip"], c["total"])
			print res, counts
			done = 1
		}'
}

@test "KUnit: every hvcarve suite runs and passes" {
	# KUnit taints the kernel with TAINT_TEST whenever it runs. The suites
	# WARN nowhere: a WARNING fails the run.
	vm_run - "nokaslr kunit.enable=1 hvcarve=64M@0x3a000000" \
		--allow-taint N <<<'hvt_done'
	local entry name min line res pass fail skip total
	for entry in $SUITES; do
		name=${entry%%:*}
		min=${entry##*:}
		line=$(ktap_suite "$name")
		echo "$name: $line"
		[ -n "$line" ] || fail "suite $name did not run"
		read -r res pass fail skip total <<<"$line"
		assert_equal "$res" ok
		assert_equal "$fail" 0
		assert_equal "$skip" 0
		[ "$total" -ge "$min" ] || fail "suite $name ran $total tests, expected at least $min"
		assert_equal "$pass" "$total"
	done
	# The parser's parameterised case ran every input.
	run console_grep '# hvcarve_test_parse: pass:[0-9]+ fail:0 skip:0 total:[0-9]+'
	assert_success
	[ "$(echo "$output" | sed -E 's/.*total:([0-9]+).*/\1/')" -ge 35 ]
}

@test "negative control: the KTAP parser reports a failed suite" {
	# A console log with a failing and a missing suite, in the kernel's format.
	mkdir -p "$(vm_artifacts)"
	cat >"$(vm_artifacts)/console.log" <<'LOG'
[    0.900000] KTAP version 1
[    0.900001] 1..1
[    0.900002]     KTAP version 1
[    0.900003]     # Subtest: hvcarve_parse
[    0.900004]     1..3
[    0.900005]     not ok 1 hvcarve_test_parse
[    0.900006]     ok 2 hvcarve_test_parse_repeated
[    0.900007]     ok 3 hvcarve_test_pfn_lookup
[    0.900008] # hvcarve_parse: pass:2 fail:1 skip:0 total:3
[    0.900009] # Totals: pass:2 fail:1 skip:0 total:3
[    0.900010] not ok 1 hvcarve_parse
[    0.900011]     KTAP version 1
[    0.900012]     # Subtest: hvcarve_withdraw
[    0.900013]     1..1
[    0.900014]     not ok 1 withdrawn_foreign
[    0.900015] not ok 2 hvcarve_withdraw
LOG
	assert_equal "$(ktap_suite hvcarve_parse)" "not_ok 2 1 0 3"
	assert_equal "$(ktap_suite hvcarve_pool)" ""
	# A suite of one case has no "# NAME: pass:" line: its case counts.
	assert_equal "$(ktap_suite hvcarve_withdraw)" "not_ok 0 1 0 1"
}

# Item 12: the suites use private pools (hvcarve_withdraw passes one page
# of its own through the live glue, which it must leave as it was;
# hv_proc_deposit counts its pages in the live kexec gate and uncounts
# them). Run again at runtime, while the live carveout has deposits, they
# change neither its counters nor a byte of it (host dumps). The one
# count that moves is overflow_cumulative_pages, the gate's pages accepted
# since boot, which no withdrawal lowers: by the 13 pages hv_proc_deposit's
# fake accepts.
@test "KUnit suites run again at runtime leave the live pool and the carveout as they were" {
	vm_run - "nokaslr kunit.enable=1 hvcarve=64M@0x3a000000" --allow-taint N <<'EOF'
. /hvt/sim.sh
hvt_sim_deposit 500 1 || hvt_fail "deposit: $hvt_sim_err"
hvt_sim_report before
hvt_ckpt before 0x3a000000 0x4000000
for s in hvcarve_parse hvcarve_pool hvcarve_learn hvcarve_cold hvcarve_withdraw hv_proc_deposit; do
	echo 1 >/sys/kernel/debug/kunit/$s/run || hvt_fail "cannot run $s"
	hvt_result "result.$s" "$(tail -n 1 /sys/kernel/debug/kunit/$s/results)"
done
hvt_ckpt after 0x3a000000 0x4000000
hvt_sim_report after
hvt_done
EOF
	local s k
	for s in hvcarve_parse hvcarve_pool hvcarve_learn hvcarve_cold hvcarve_withdraw hv_proc_deposit; do
		run result "result.$s" 0
		assert_output --regexp "^ok [0-9]+ $s\$"
	done
	for k in free_pages deposited_pages inherited_pages skipped_pages peak_deposited_pages \
		deposit_success_pages deposit_fail_pages withdrawn_pages sim_held; do
		assert_equal "$(result "after.$k" 0)" "$(result "before.$k" 0)"
	done
	assert_equal "$(result after.overflow_cumulative_pages 0)" \
		$(($(result before.overflow_cumulative_pages 0) + 13))
	dumps_equal before after
	# No suite WARNs: the run above allows no WARNING at all.
}
