#!/usr/bin/env python3
# Attribute every CPU (or alloc) sample of `go tool pprof -traces` to one
# cost of the intake path, by the innermost matching frame's category.
import re, subprocess, sys
binary, prof = sys.argv[1], sys.argv[2]
extra = sys.argv[3:]  # e.g. -sample_index=alloc_space
out = subprocess.run(['go','tool','pprof','-traces',*extra,binary,prof],capture_output=True,text=True).stdout
cats = [  # first match from the innermost frame outwards
 ('HMAC-SHA256 (signature over the raw body)', r'crypto/(hmac|sha256|internal/fips140/(hmac|sha256))'),
 ('JSON parsing (payload shape/decode)', r'encoding/json'),
 ('logging (slog JSON lines)', r'log/slog'),
 ('River insert', r'riverqueue'),
 ('database driver (pgx / sqlite)', r'jackc/pgx|modernc.org/sqlite|database/sql'),
 ('gin routing/context', r'gin-gonic'),
 ('prometheus metrics', r'prometheus'),
 ('reading the body', r'io\.ReadAll|io\.ReadFull|MaxBytesReader|httpapi\.readBody'),
 ('HTTP server (net/http, syscalls)', r'net/http\.\(\*conn\)|net/http\.\(\*response\)|net/http\.\(\*connReader\)|bufio'),
 ('HTTP client (load generator)', r'net/http\.\(\*persistConn\)|net/http\.\(\*Transport\)|net/http\.\(\*Client\)|main\.drive'),
 ('garbage collector', r'runtime\.gcBgMarkWorker|runtime\.gcAssist|runtime\.bgsweep'),
]
tot={}; total=0
blocks = out.split('-----------+-------------------------------------------------------')
for b in blocks:
    lines=[l for l in b.strip().split('\n') if l.strip()]
    if lines and lines[0].strip().startswith('bytes:'): lines=lines[1:]
    if not lines: continue
    m=re.match(r'\s*(\S+)\s+(\S+)',lines[0])
    if not m: continue
    v=m.group(1)
    mult={'ns':1e-9,'us':1e-6,'ms':1e-3,'s':1,'B':1,'kB':1e3,'MB':1e6,'GB':1e9}
    mm=re.match(r'([0-9.]+)([a-zA-Z]*)',v)
    if not mm: continue
    val=float(mm.group(1))*mult.get(mm.group(2),1)
    frames=[lines[0].split(None,1)[1]]+[l.strip() for l in lines[1:]]
    total+=val
    cat='other'
    for f in frames:
        hit=[c for c,rx in cats if re.search(rx,f)]
        if hit: cat=hit[0]; break
    tot[cat]=tot.get(cat,0)+val
unit='s' if not extra else 'MB'
scale=1 if not extra else 1e-6
for c,v in sorted(tot.items(),key=lambda x:-x[1]):
    print(f'{100*v/total:5.1f}%  {v*scale:8.2f} {unit}  {c}')
print(f'total {total*scale:.2f} {unit}')
