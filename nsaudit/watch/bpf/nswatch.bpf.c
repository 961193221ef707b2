// SPDX-License-Identifier: GPL-2.0
/* nswatch: every namespace a task creates (clone, clone3, unshare) or enters (setns), and the
 * exit of such a task, sent to nsaudit watch through a ring buffer. Tracepoints only: they
 * work where kprobes, fentry and BPF LSM hooks are refused (kernel lockdown). */
#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "nswatch.h"

char LICENSE[] SEC("license") = "GPL";

#define CLONE_NEWTIME 0x00000080ULL
#define CLONE_NEWNS 0x00020000ULL
#define CLONE_NEWCGROUP 0x02000000ULL
#define CLONE_NEWUTS 0x04000000ULL
#define CLONE_NEWIPC 0x08000000ULL
#define CLONE_NEWUSER 0x10000000ULL
#define CLONE_NEWPID 0x20000000ULL
#define CLONE_NEWNET 0x40000000ULL
#define CLONE_NEW_ANY (CLONE_NEWTIME | CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | \
		       CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET)

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} events SEC(".maps");

/* [0]: events dropped because the ring buffer was full. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

/* The tasks that made or entered a namespace, whose exit is an event. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u8);
} makers SEC(".maps");

static __always_inline void count_lost(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&lost, &zero);

	if (n)
		*n += 1;
}

static __always_inline void ns_of(struct ns_common *ns, __u32 *inum, __u64 *id)
{
	*inum = BPF_CORE_READ(ns, inum);
	if (bpf_core_field_exists(ns->ns_id))
		*id = BPF_CORE_READ(ns, ns_id);
	else
		*id = 0;
}

/* The task's namespaces, in the order of nswatch.h; pid and time as its children get them. */
static __always_inline void namespaces(struct task_struct *task, __u32 *inum, __u64 *id)
{
	struct nsproxy *nsp = BPF_CORE_READ(task, nsproxy);
	struct user_namespace *user = BPF_CORE_READ(task, cred, user_ns);

	if (nsp) {
		ns_of(&BPF_CORE_READ(nsp, cgroup_ns)->ns, &inum[0], &id[0]);
		ns_of(&BPF_CORE_READ(nsp, ipc_ns)->ns, &inum[1], &id[1]);
		ns_of(&BPF_CORE_READ(nsp, mnt_ns)->ns, &inum[2], &id[2]);
		ns_of(&BPF_CORE_READ(nsp, net_ns)->ns, &inum[3], &id[3]);
		ns_of(&BPF_CORE_READ(nsp, pid_ns_for_children)->ns, &inum[4], &id[4]);
		ns_of(&BPF_CORE_READ(nsp, time_ns_for_children)->ns, &inum[5], &id[5]);
		ns_of(&BPF_CORE_READ(nsp, uts_ns)->ns, &inum[7], &id[7]);
	}
	ns_of(&user->ns, &inum[6], &id[6]);
}

static __always_inline struct mount *real_mount(struct vfsmount *mnt)
{
	return (struct mount *)((void *)mnt - bpf_core_field_offset(struct mount, mnt));
}

/* The executable's path up to the root of its mount namespace, crossing mount points as d_path
 * does (a path within its own mount only would let a file under any mount, /dev/shm or a
 * bind mount, pass for /usr/bin/...), and that namespace: a path means what it says only in
 * the namespace it was read in. */
static __always_inline void exe_of(struct task_struct *task, struct nswatch_event *e)
{
	struct file *exe = BPF_CORE_READ(task, mm, exe_file);
	struct dentry *d = BPF_CORE_READ(exe, f_path.dentry);
	struct vfsmount *vfs = BPF_CORE_READ(exe, f_path.mnt);
	struct mount *mnt;
	bool top = 0;
	int part = 0;

	if (!d || !vfs)
		return;
	mnt = real_mount(vfs);
	e->exe_mnt_ns = BPF_CORE_READ(mnt, mnt_ns, ns.inum);
	for (int i = 0; i < NSWATCH_EXE_PARTS + NSWATCH_MOUNTS; i++) {
		struct dentry *parent = BPF_CORE_READ(d, d_parent);

		if (!top && d == BPF_CORE_READ(mnt, mnt.mnt_root)) {
			struct mount *up = BPF_CORE_READ(mnt, mnt_parent);

			if (up && up != mnt) {
				d = BPF_CORE_READ(mnt, mnt_mountpoint);
				mnt = up;
				continue;
			}
			/* The top mount. Above its root, if that is not its file system's, the file
			 * system's own directories: no path of the namespace's, but they say where
			 * the file is (a detached bind mount of one file, as runc makes of itself). */
			top = 1;
			e->exe_cut |= (parent != d) * NSWATCH_CUT_ROOT; /* no branch: fewer states */
		}
		if (parent == d && top)
			return; /* the file system's root ("/", no name of the path): whole */
		if (part >= NSWATCH_EXE_PARTS)
			break;
		if (BPF_CORE_READ(d, d_name.len) >= NSWATCH_PART_LEN)
			e->exe_cut |= NSWATCH_CUT_NAME << part;
		bpf_probe_read_kernel_str(e->exe[part], NSWATCH_PART_LEN,
					  BPF_CORE_READ(d, d_name.name));
		part++;
		if (parent == d)
			break; /* a file system's root below its mount's: outside it, or a memfd */
		d = parent;
	}
	e->exe_cut |= NSWATCH_CUT_ROOT;
}

static __always_inline struct kernfs_node *kn_parent(struct kernfs_node *kn)
{
	if (bpf_core_field_exists(kn->__parent))
		return BPF_CORE_READ(kn, __parent);
	return (struct kernfs_node *)BPF_CORE_READ((struct kernfs_node___old *)kn, parent);
}

/* The task's cgroup in the unified hierarchy, as the kernel has it now: which container it
 * belongs to (nsaudit reads the runtime's scope in it), however briefly the task lives. */
static __always_inline void cgroup_of(struct task_struct *task, struct nswatch_event *e)
{
	struct kernfs_node *kn = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn);

	for (int i = 0; i < NSWATCH_CGROUP_PARTS && kn; i++) {
		struct kernfs_node *parent = kn_parent(kn);

		if (!parent)
			break; /* the root's own name is not part of the path */
		bpf_probe_read_kernel_str(e->cgroup[i], NSWATCH_CGROUP_LEN, BPF_CORE_READ(kn, name));
		kn = parent;
	}
}

static __always_inline struct nswatch_event *event(struct task_struct *task, __u32 kind)
{
	struct nswatch_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		count_lost();
		return 0;
	}
	/* In two, kept apart: clang inlines no memset of more than 1 KiB (and would merge them). */
	__builtin_memset(e, 0, __builtin_offsetof(struct nswatch_event, cgroup));
	asm volatile("" ::: "memory");
	__builtin_memset(e->cgroup, 0, sizeof(e->cgroup));
	e->boot_ns = bpf_ktime_get_boot_ns();
	e->kind = kind;
	e->pid = BPF_CORE_READ(task, pid);
	e->tgid = BPF_CORE_READ(task, tgid);
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->uid = BPF_CORE_READ(task, cred, uid.val);
	e->euid = BPF_CORE_READ(task, cred, euid.val);
	BPF_CORE_READ_STR_INTO(&e->comm, task, comm);
	cgroup_of(task, e);
	return e;
}

static __always_inline void remember(__u32 pid)
{
	__u8 one = 1;

	bpf_map_update_elem(&makers, &pid, &one, BPF_ANY);
}

#define TS_COMPAT 0x0002
#define X32_BIT 0x40000000L
#define UNSHARE_64 272
#define SETNS_64 308
#define UNSHARE_32 310
#define SETNS_32 346

/* The ABI of the system call the task runs now. */
static __always_inline __u32 abi_of(struct task_struct *task, long nr)
{
	if (bpf_core_field_exists(task->thread_info.status) &&
	    (BPF_CORE_READ(task, thread_info.status) & TS_COMPAT))
		return NSWATCH_I386;
	return nr & X32_BIT ? NSWATCH_X32 : NSWATCH_X86_64;
}

SEC("tp_btf/task_newtask")
int BPF_PROG(task_newtask, struct task_struct *task, __u64 clone_flags)
{
	struct task_struct *parent = (struct task_struct *)bpf_get_current_task_btf();
	struct nswatch_event *e;
	__u64 ids[NSWATCH_TYPES];

	if (!(clone_flags & CLONE_NEW_ANY))
		return 0;
	e = event(task, NSWATCH_CLONE);
	if (!e)
		return 0;
	e->flags = clone_flags;
	/* The task is new: its nsproxy and cred are set, its mm and exe are the parent's. */
	namespaces(task, e->inum, e->ns_id);
	namespaces(parent, e->before_inum, ids);
	if (bpf_core_field_exists(((struct pt_regs *)0)->orig_ax)) {
		e->syscall = BPF_CORE_READ((struct pt_regs *)bpf_task_pt_regs(parent), orig_ax);
		e->abi = abi_of(parent, e->syscall);
	}
	exe_of(parent, e);
	remember(e->pid);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* The CLONE_NEW* flag of the namespace an nsfs file descriptor refers to. */
static __always_inline __u64 ns_type_of_fd(struct task_struct *task, __u64 fd)
{
	struct file **fds = BPF_CORE_READ(task, files, fdt, fd);
	struct file *file = 0;
	struct ns_common *ns;

	if (fd > 1 << 20 || bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file)
		return 0;
	ns = BPF_CORE_READ(file, f_inode, i_private);
	if (bpf_core_field_exists(ns->ns_type))
		return BPF_CORE_READ(ns, ns_type);
	return BPF_CORE_READ(ns, ops, type);
}

static __always_inline void leave(struct task_struct *task, __u32 kind, __u64 flags, __s32 nr,
				  __u32 abi)
{
	struct nswatch_event *e = event(task, kind);
	struct user_namespace *user;

	if (!e)
		return;
	e->flags = flags;
	e->syscall = nr;
	e->abi = abi;
	namespaces(task, e->inum, e->ns_id);
	/* The user namespace it was in before: a new one's parent, else the one it is in (an
	 * entered one's is not known: 0). */
	user = BPF_CORE_READ(task, cred, user_ns);
	if (kind == NSWATCH_UNSHARE && (flags & CLONE_NEWUSER))
		e->before_inum[6] = BPF_CORE_READ(user, parent, ns.inum);
	else if (!(flags & CLONE_NEWUSER))
		e->before_inum[6] = BPF_CORE_READ(user, ns.inum);
	exe_of(task, e);
	remember(e->pid);
	bpf_ringbuf_submit(e, 0);
}

/* A successful unshare or setns, by its x86_64 number (nr) and arguments (a0, a1); orig: the
 * number as the task called it, in its ABI. One call of leave() only: each is inlined whole,
 * and the verifier walks every copy (a program has at most a million steps). */
static __always_inline void made(struct task_struct *task, long nr, __u64 a0, __u64 a1,
				 long orig, __u32 abi)
{
	__u32 kind;
	__u64 flags;

	if (nr == UNSHARE_64) {
		kind = NSWATCH_UNSHARE;
		flags = a0 & CLONE_NEW_ANY;
		if (!flags)
			return;
	} else if (nr == SETNS_64) {
		/* nstype: the types a pidfd enters, or the type an nsfs fd must be; 0: any. */
		kind = NSWATCH_SETNS;
		flags = a1 & CLONE_NEW_ANY;
		if (!flags)
			flags = ns_type_of_fd(task, a0);
	} else {
		return;
	}
	leave(task, kind, flags, orig, abi);
}

/* Every system call's exit, in every ABI: where the kernel runs i386 or x32 calls, which the
 * per-call tracepoints below leave out (a 64-bit process that calls unshare through int 0x80
 * would be unseen). It costs: this program runs on every call of the host (about 10 ns a
 * call more than the per-call tracepoints, whose dispatch returns in the kernel; an empty
 * program costs the same), though it returns at once for all but four numbers. Only exits:
 * the arguments are still in the task's saved registers, and a program on the entries too
 * would double the cost. */
SEC("tp_btf/sys_exit")
int BPF_PROG(sys_exit, struct pt_regs *regs, long ret)
{
	struct task_struct *task;
	long nr, orig;
	__u64 a0, a1;
	__u32 abi;

	if (ret != 0)
		return 0;
	orig = nr = regs->orig_ax;
	if ((nr & ~X32_BIT) != UNSHARE_64 && (nr & ~X32_BIT) != SETNS_64 && nr != UNSHARE_32 &&
	    nr != SETNS_32)
		return 0;
	task = bpf_get_current_task_btf();
	abi = abi_of(task, nr);
	if (abi == NSWATCH_I386) {
		nr = nr == UNSHARE_32 ? UNSHARE_64 : nr == SETNS_32 ? SETNS_64 : -1;
		a0 = regs->bx & 0xffffffff;
		a1 = regs->cx & 0xffffffff;
	} else {
		nr &= ~X32_BIT;
		a0 = regs->di;
		a1 = regs->si;
	}
	made(task, nr, a0, a1, orig, abi);
	return 0;
}

/* The per-call tracepoints' exit record: x86_64 calls only. Where the kernel runs no other
 * ABI's (nsaudit/watch/abis.py), nsaudit loads these, not sys_exit: they cost every call of
 * the host only the kernel's slow path. */
struct syscall_exit {
	__u64 common;
	__s32 nr;
	__s64 ret;
};

static __always_inline int per_call(struct syscall_exit *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);

	if (ctx->ret == 0)
		made(task, ctx->nr, BPF_CORE_READ(regs, di), BPF_CORE_READ(regs, si), ctx->nr,
		     NSWATCH_X86_64);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_unshare")
int unshare_exit(struct syscall_exit *ctx)
{
	return per_call(ctx);
}

SEC("tracepoint/syscalls/sys_exit_setns")
int setns_exit(struct syscall_exit *ctx)
{
	return per_call(ctx);
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(process_exit, struct task_struct *task)
{
	__u32 pid = BPF_CORE_READ(task, pid);
	struct nswatch_event *e;

	if (!bpf_map_lookup_elem(&makers, &pid))
		return 0;
	bpf_map_delete_elem(&makers, &pid);
	e = event(task, NSWATCH_EXIT);
	if (e)
		bpf_ringbuf_submit(e, 0);
	return 0;
}
