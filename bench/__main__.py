"""`make bench`: every benchmark in turn, each printing its figures and its ratio."""

from bench import memory, normalize, screening, upload

for bench in (normalize, upload, memory, screening):
    print(f"== {bench.__name__}", flush=True)
    bench.main()
