/* The few kernel types nswatch reads, by name only: CO-RE relocates every field against the
 * running kernel's BTF, so their layout here does not matter, and the object builds the same
 * on any machine (a vmlinux.h dumped from one kernel would not). */
#ifndef NSWATCH_KERNEL_TYPES_H
#define NSWATCH_KERNEL_TYPES_H

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef signed int __s32;
typedef signed long long __s64;
typedef __u32 __be32;
typedef __u16 __be16;
typedef __u32 __wsum;
typedef __u8 u8;
typedef __u32 u32;
typedef __u64 u64;
typedef __s64 s64;
typedef _Bool bool;

enum bpf_map_type {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_LRU_HASH = 9,
	BPF_MAP_TYPE_RINGBUF = 27,
};

enum {
	BPF_ANY = 0,
};

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

struct proc_ns_operations {
	int type; /* its CLONE_NEW* flag; before Linux 6.18 (then ns_common.ns_type) */
};

struct ns_common {
	unsigned int inum;
	u64 ns_id; /* Linux 6.18+; checked with bpf_core_field_exists */
	u32 ns_type; /* Linux 6.18+: its CLONE_NEW* flag */
	const struct proc_ns_operations *ops;
};
struct uts_namespace { struct ns_common ns; };
struct ipc_namespace { struct ns_common ns; };
struct mnt_namespace { struct ns_common ns; };
struct pid_namespace { struct ns_common ns; };
struct net { struct ns_common ns; };
struct time_namespace { struct ns_common ns; };
struct cgroup_namespace { struct ns_common ns; };
struct user_namespace {
	struct user_namespace *parent;
	struct ns_common ns;
};

struct nsproxy {
	struct uts_namespace *uts_ns;
	struct ipc_namespace *ipc_ns;
	struct mnt_namespace *mnt_ns;
	struct pid_namespace *pid_ns_for_children;
	struct net *net_ns;
	struct time_namespace *time_ns_for_children;
	struct cgroup_namespace *cgroup_ns;
};

typedef struct { unsigned int val; } kuid_t;

struct cred {
	kuid_t uid;
	kuid_t euid;
	struct user_namespace *user_ns;
};

struct qstr {
	unsigned int len; /* in the kernel, inside an anonymous union: CO-RE finds it there */
	const unsigned char *name;
};
struct dentry {
	struct dentry *d_parent;
	struct qstr d_name;
};
struct vfsmount {
	struct dentry *mnt_root;
};
struct mount {
	struct mount *mnt_parent;
	struct dentry *mnt_mountpoint;
	struct vfsmount mnt; /* a vfsmount is inside its mount: container_of */
	struct mnt_namespace *mnt_ns;
};
struct path {
	struct vfsmount *mnt;
	struct dentry *dentry;
};
struct inode {
	void *i_private; /* of an nsfs inode: its namespace's ns_common */
};
struct file {
	struct path f_path;
	struct inode *f_inode;
};
struct fdtable {
	struct file **fd;
};
struct files_struct {
	struct fdtable *fdt;
};
struct mm_struct {
	struct file *exe_file;
};

struct pt_regs {
	long orig_ax; /* x86: the system call's number, and its first two arguments */
	unsigned long di; /* x86_64 and x32 */
	unsigned long si;
	unsigned long bx; /* i386 (int 0x80, sysenter, a 32-bit process) */
	unsigned long cx;
};

struct thread_info {
	u32 status; /* x86: TS_COMPAT while the task runs an i386 system call */
};

struct kernfs_node {
	const char *name;
	struct kernfs_node *__parent; /* Linux 6.15+ */
};
struct kernfs_node___old {
	const char *name;
	struct kernfs_node___old *parent; /* before Linux 6.15 */
};
struct cgroup {
	struct kernfs_node *kn;
};
struct css_set {
	struct cgroup *dfl_cgrp; /* the unified (v2) hierarchy's */
};

struct task_struct {
	struct thread_info thread_info;
	int pid;
	int tgid;
	struct task_struct *real_parent;
	struct task_struct *group_leader;
	const struct cred *cred;
	struct nsproxy *nsproxy;
	struct mm_struct *mm;
	struct files_struct *files;
	struct css_set *cgroups;
	char comm[16];
};

#pragma clang attribute pop

#endif
