/* The event nswatch.bpf.c sends to user space; nsaudit/watch/events.py reads the same layout. */
#ifndef NSWATCH_H
#define NSWATCH_H

#define NSWATCH_TYPES 8      /* cgroup ipc mnt net pid time user uts, in this order */
#define NSWATCH_EXE_PARTS 8  /* the executable's path, leaf first, each name cut at 31 bytes */
#define NSWATCH_PART_LEN 32
#define NSWATCH_CGROUP_PARTS 6 /* its cgroup (v2) path, leaf first, each name cut at 95 bytes */
#define NSWATCH_CGROUP_LEN 96

enum nswatch_kind {
	NSWATCH_CLONE = 1,  /* a new task (fork, clone, clone3) with namespace flags */
	NSWATCH_UNSHARE = 2,
	NSWATCH_SETNS = 3,
	NSWATCH_EXIT = 4,   /* a task that made or entered a namespace exited */
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
	__u32 syscall;   /* the system call's number, where the tracepoint does not say it */
	__s32 ret;
	char comm[16];
	char exe[NSWATCH_EXE_PARTS][NSWATCH_PART_LEN];
	char cgroup[NSWATCH_CGROUP_PARTS][NSWATCH_CGROUP_LEN];
};

#endif
