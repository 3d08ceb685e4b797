#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0
#
# Two NUMA nodes (QEMU -numa, described to the kernel by ACPI SRAT), one
# carveout region on each: sysfs names the right node, and a deposit with a
# node hint lands in that node's region.

load helpers
load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

teardown() {
	hvt_teardown
}

# Node 0: [0, 512 MiB), node 1: [512 MiB, 1 GiB); one socket per node, so
# the kernel sees a sane topology (two nodes in one socket WARNs).
NUMA_ARGS=(--smp 2,sockets=2
	--qemu-arg "-object memory-backend-ram,id=m0,size=512M"
	--qemu-arg "-object memory-backend-ram,id=m1,size=512M"
	--numa "node,nodeid=0,cpus=0,memdev=m0"
	--numa "node,nodeid=1,cpus=1,memdev=m1")

@test "one region per node: sysfs node values, and deposits follow the node hint" {
	vm_run - "nokaslr hvcarve=32M@0x10000000,32M@0x30000000" "${NUMA_ARGS[@]}" <<'EOF'
. /hvt/sim.sh
hvt_result nodes "$(ls -d /sys/devices/system/node/node* | wc -l)"
hvt_result node0 "$(cat $HVT_HVC/region@10000000/node)"
hvt_result node1 "$(cat $HVT_HVC/region@30000000/node)"
hvt_sim_deposit 300 1 1 || hvt_fail "deposit on node 1: $hvt_sim_err"
hvt_result a.r0 "$(cat $HVT_HVC/region@10000000/deposited_pages)"
hvt_result a.r1 "$(cat $HVT_HVC/region@30000000/deposited_pages)"
hvt_sim_deposit 200 2 0 || hvt_fail "deposit on node 0: $hvt_sim_err"
hvt_result b.r0 "$(cat $HVT_HVC/region@10000000/deposited_pages)"
hvt_result b.r1 "$(cat $HVT_HVC/region@30000000/deposited_pages)"
# Node 1's region has 8192 pages: 8000 more fill it and spill to node 0.
hvt_sim_deposit 8000 3 1 || hvt_fail "deposit spilling over: $hvt_sim_err"
hvt_result c.r0 "$(cat $HVT_HVC/region@10000000/deposited_pages)"
hvt_result c.r1 "$(cat $HVT_HVC/region@30000000/deposited_pages)"
hvt_done
EOF
	assert_equal "$(result nodes 0)" 2
	assert_equal "$(result node0 0)" 0
	assert_equal "$(result node1 0)" 1
	assert_equal "$(result a.r0 0)" 0
	assert_equal "$(result a.r1 0)" 300
	assert_equal "$(result b.r0 0)" 200
	assert_equal "$(result b.r1 0)" 300
	assert_equal "$(result c.r1 0)" 8192
	assert_equal "$(result c.r0 0)" $((200 + 8000 - (8192 - 300)))
}

# Item 9: the node of every region is known, and checked, in setup_arch(),
# before smp_prepare_cpus() -- where a root partition deposits -- and long
# before the secondary CPUs come up.
@test "each region's node is known before the secondary CPUs come up" {
	vm_run - "nokaslr hvcarve=32M@0x10000000,32M@0x30000000" "${NUMA_ARGS[@]}" <<<'hvt_done'
	local nodes smp
	nodes=$(console_log | grep -n 'hvcarve: region 1: node 1' | cut -d: -f1)
	smp=$(console_log | grep -n 'smp: Bringing up secondary CPUs' | cut -d: -f1)
	[ -n "$nodes" ] || fail "no node line for region 1"
	[ -n "$smp" ] || fail "no secondary CPU bring-up line"
	[ "$nodes" -lt "$smp" ]
	run console_grep 'hvcarve: region 0: node 0, '
	assert_success
}

# A region across the node boundary at 512 MiB is refused with the reason;
# it stays reserved (the e820 maps were changed before NUMA was known), and
# no page of it is deposited.
@test "a region that spans two NUMA nodes is refused, and stays reserved" {
	vm_run - "nokaslr hvcarve=64M@0x1e000000" "${NUMA_ARGS[@]}" <<'EOF'
. /hvt/sim.sh
hvt_result state "$(cat $HVT_HVC/state)"
if hvt_sim_deposit 10 1; then hvt_result dep ok; else hvt_result dep "$hvt_sim_err"; fi
hvt_result overflow "$(cat $HVT_HVC/overflow_pages)"
hvt_done
EOF
	run console_grep 'hvcarve: region 0 \[mem 0x000000001e000000-0x0000000021ffffff\] spans NUMA nodes 0 and 1 \(at 0x20000000\): use one region per node'
	assert_success
	run console_grep 'hvcarve: carveout disabled: its regions stay reserved'
	assert_success
	assert_equal "$(result state 0)" invalid
	e820_range_is 0 0x1e000000 0x4000000 hvcarve modified
	# A deposit then uses ordinary memory, under the kexec gate.
	assert_equal "$(result dep 0)" ok
	assert_equal "$(result overflow 0)" 10
}
