/* The event nswatch.bpf.c sends to user space; nsaudit/watch/events.py reads the same layout. */
#ifndef NSWATCH_H
#define NSWATCH_H

#define NSWATCH_TYPES 8      /* cgroup ipc mnt net pid time user uts, in this order */
#define NSWATCH_EXE_PARTS 8  /* the executable's path, leaf first, each name cut at 31 bytes */
#define NSWATCH_MOUNTS 8     /* mount points the path may cross on its way to the root */
#define NSWATCH_PART_LEN 32
#define NSWATCH_CGROUP_PARTS 6 /* its cgroup (v2) path, leaf first, each name cut at 95 bytes */
#define NSWATCH_CGROUP_LEN 96

enum nswatch_kind {
	NSWATCH_CLONE = 1,  /* a new task (fork, clone, clone3) with namespace flags */
	NSWATCH_UNSHARE = 2,
	NSWATCH_SETNS = 3,
	NSWATCH_EXIT = 4,   /* a task that made or entered a namespace exited */
};

/* The system call's ABI: x86_64 and x32 take their arguments in di, si; i386 (int 0x80,
 * sysenter, any 32-bit process) in bx, cx, with other numbers. */
enum nswatch_abi {
	NSWATCH_X86_64 = 0,
	NSWATCH_I386 = 1,
	NSWATCH_X32 = 2,
};

/* exe_cut's bits: the path is not whole. */
enum nswatch_cut {
	/* It is not a whole path from its namespace's root: deeper than NSWATCH_EXE_PARTS names
	 * (or NSWATCH_MOUNTS mounts), outside its mount's root (a file renamed out of a bind
	 * mount of a directory, a memfd), or above the namespace's root mount. */
	NSWATCH_CUT_ROOT = 1,
	/* NSWATCH_CUT_NAME << i: exe[i] is cut (a name longer than NSWATCH_PART_LEN - 1 bytes). */
	NSWATCH_CUT_NAME = 1 << 8,
};

struct nswatch_event {
	__u64 boot_ns;   /* bpf_ktime_get_boot_ns() */
	__u64 flags;     /* clone or unshare flags; setns: the types entered (CLONE_NEW*) */
	__u64 ns_id[NSWATCH_TYPES];
	__u32 inum[NSWATCH_TYPES];
	__u32 before_inum[NSWATCH_TYPES]; /* clone: the parent's namespaces; unshare and setns:
					   * [6] only, the user namespace before (0: unknown) */
	__u32 kind;
	__u32 pid;       /* thread id */
	__u32 tgid;
	__u32 ppid;      /* the real parent's tgid */
	__u32 uid;       /* real and effective uid, as the initial user namespace sees them */
	__u32 euid;
	__u32 syscall;   /* the system call's number (in its ABI's table) */
	__u32 abi;       /* enum nswatch_abi */
	__u32 exe_mnt_ns; /* the inode of the mount namespace the executable's path is in (0:
			   * none: a detached or kernel-internal mount, such as a memfd's) */
	__u32 exe_cut;   /* enum nswatch_cut */
	char comm[16];
	char exe[NSWATCH_EXE_PARTS][NSWATCH_PART_LEN];
	char cgroup[NSWATCH_CGROUP_PARTS][NSWATCH_CGROUP_LEN] __attribute__((aligned(8))); /* memset */
};

#endif
