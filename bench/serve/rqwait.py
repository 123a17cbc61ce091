#!/usr/bin/env python3
# bench/serve/rqwait.py: run beside bench/serve/run.sh (as root); samples every 0.2 s the run time and
# run-queue wait (/proc/TID/schedstat) of every task in the cpuacct cgroups run.sh makes (cgroup v1,
# ebb-bench.serve*), by system (comm "ebb", else Postfix). On SIGTERM/SIGINT prints, per system, CPU
# seconds run and seconds waited on a run queue: whether a system was starved for CPU during the run.
import glob, os, signal, sys, time
last = {}  # (pid-start-key) -> (sys, run, wait)
def sample():
    for d in glob.glob('/sys/fs/cgroup/cpuacct/ebb-bench.serve*'):
        try: tids = open(os.path.join(d, 'tasks')).read().split()
        except OSError: continue
        for t in tids:
            try:
                run, wait, _ = open(f'/proc/{t}/schedstat').read().split()
                comm = open(f'/proc/{t}/comm').read().strip()
                st = open(f'/proc/{t}/stat').read().rsplit(')', 1)[1].split()[19]
            except (OSError, ValueError): continue
            last[(t, st)] = ('ebb' if comm == 'ebb' else 'postfix', int(run), int(wait))
stop = False
def h(*a):
    global stop; stop = True
signal.signal(signal.SIGTERM, h); signal.signal(signal.SIGINT, h)
while not stop:
    sample(); time.sleep(0.2)
tot = {}
for s, r, w in last.values():
    a = tot.setdefault(s, [0, 0]); a[0] += r; a[1] += w
for s, (r, w) in sorted(tot.items()):
    print(f'{s}: ran {r/1e9:.2f} s, waited on a run queue {w/1e9:.2f} s ({w/max(r,1):.2f} s waited per s run), {sum(1 for v in last.values() if v[0]==s)} tasks')
