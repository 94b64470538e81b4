"""`make bench`: every benchmark in turn, each printing its figures and its ratio."""

from bench import api, engine, listing, memory, metrics, normalize, screening, upload

for bench in (normalize, upload, memory, listing, screening, engine, api, metrics):
    print(f"== {bench.__name__}", flush=True)
    bench.main()
