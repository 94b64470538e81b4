"""`make bench`: every benchmark in turn, each printing its figures and its ratio."""

from bench import api, engine, listing, memory, metrics, nodes, normalize, screening, upload

for bench in (normalize, upload, memory, listing, screening, engine, api, metrics, nodes):
    print(f"== {bench.__name__}", flush=True)
    bench.main()
