#!/usr/bin/env python3
"""portal-admin side by side with PostGraphile v4 and pgbench, on one PostgreSQL database.

Run through bench/run.sh (which sources env.sh, seeds, builds and starts the servers):

  bench.py check                       both peers (and the pgbench SQL) return the same data
  bench.py stmts   [--only a,b]        statements per request (pg_stat_statements, /metrics)
  bench.py load    [--only a,b] [--rounds 3] [--conc 16] [--secs 10] [--warm 3]
  bench.py capture                     the audited update's own statements -> a pgbench script
  bench.py memory  [--bursts 5]        RSS idle / peak / after bursts of 200 sign-ins
  bench.py contention [--rounds 3]     viewer p99 idle vs while 50 sign-ins run
  bench.py rss                         RSS idle and at c=64 on b
  bench.py report  [DIR]               the table, from a results directory

Every command appends JSON lines to $BENCH_WORK/results/current/results.jsonl; `report` reads them.
CPU: server = the server's process tree, pg = the private cluster's postmaster tree, both from
/proc; foreign = the machine's busy time minus server, PostgreSQL and the load generator (other
jobs on a shared box). Runs wait for a quiet box first (QUIET_PCT, default 8 %, QUIET_MAX s).
"""
import argparse
import glob
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

BENCH = os.path.dirname(os.path.abspath(__file__))
WORK = os.environ.get('BENCH_WORK', '/tmp/portal-admin-bench')
PGBIN = os.environ.get('PGBIN', '/usr/lib/postgresql/15/bin')
DB = os.environ.get('BENCH_DB', 'portal_bench')
HZ = os.sysconf('SC_CLK_TCK')
NCPU = os.cpu_count() or 1
RESULTS = os.path.join(WORK, 'results', 'current')
WRK_THREADS = os.environ.get('WRK_THREADS', '2')


# ---------------------------------------------------------------------------------------------
# Queries: the GraphQL each peer answers, and the SQL pgbench runs, for one request.

@dataclass
class Query:
    title: str
    pa: str
    pg4: str | None = None
    sql: str | None = None          # bench/pgbench/NAME (a template, see pgbench_script)
    conc: int = 16
    sqlite: bool = False            # also portal-admin on the SQLite copy
    extra_sql: list = field(default_factory=list)   # more pgbench scripts to compare with


QUERIES = {
    'a': Query('a: one user by id',
               '{ user(id: "42") { id name email role status discardedAt lastSignInAt } }',
               '{ userById(id: "42") { id name email role activatedAt discardedAt lastSignInAt } }',
               'a_user_by_id.sql', sqlite=True),
    'b': Query('b: 50 users with memberships and companies',
               '{ users(first: 50) { nodes { id name email role memberships { role company { id name } } } } }',
               '{ allUsersList(first: 50, orderBy: [NAME_ASC, ID_ASC]) { id name email role '
               'companyMembershipsByUserIdList(orderBy: COMPANY_ID_ASC) { role companyByCompanyId { id name } } } }',
               'b_users_with_companies.sql', sqlite=True),
    'c': Query("c: a record's last 20 audit events with changes",
               '{ auditEvents(filter: {recordType: COMPANY, recordId: "14"}, first: 20) { nodes { id occurredAt '
               'action recordType recordId actor { id } viaImpersonation changes { field before after } } } }',
               '{ allAuditEventsList(condition: {recordType: "COMPANY", recordId: "14"}, '
               'orderBy: [OCCURRED_AT_DESC, ID_DESC], first: 20) { id occurredAt action recordType recordId '
               'actorId impersonatorId auditChangesByEventIdList(orderBy: ID_ASC) { field beforeValue afterValue } } }',
               'c_audit_events_for_record.sql'),
    'd': Query('d: users(filter: {companyId}), first 50',
               '{ users(filter: {companyId: "14"}, first: 50) { nodes { id name email role } } }',
               None, 'd_users_of_company.sql'),
    'e': Query('e: auditEvents(filter: {field: "billing*"}), first 20',
               '{ auditEvents(filter: {field: "billing*"}, first: 20) { nodes { id occurredAt action recordType '
               'recordId changes { field before after } } } }',
               None, 'e_audit_billing.sql'),
    'w': Query('w: audited updateCompany(billingRateCents)',
               'mutation { updateCompany(input: {id: "7", billingRateCents: 4242}) { id billingRateCents version } }',
               None, 'w_product.sql', conc=8, extra_sql=['w_lean_audited.sql', 'w_bare_update.sql']),
    'v': Query('viewer', '{ viewer { user { id } } }'),
}
DEFAULT_ONLY = 'a,b,c,d,e,w'


def pa_targets():
    return {
        'pa': dict(url=f"http://127.0.0.1:{os.environ.get('PA_PORT', '18600')}/graphql", name='pa'),
        'sqlite': dict(url=f"http://127.0.0.1:{os.environ.get('PA_SQLITE_PORT', '18601')}/graphql", name='sqlite'),
    }


PG4_URL = f"http://127.0.0.1:{os.environ.get('PG4_PORT', '5400')}/graphql"


# ---------------------------------------------------------------------------------------------
# Small helpers: processes, CPU, HTTP, psql.

def pidfile(name):
    return os.path.join(WORK, f'{name}.pid')


def read_pid(name):
    try:
        return int(open(pidfile(name)).read().strip())
    except (OSError, ValueError):
        return None


def token(name='pa'):
    return open(os.path.join(WORK, f'{name}.token')).read().strip()


def children():
    kids = {}
    for d in os.listdir('/proc'):
        if d.isdigit():
            try:
                stat = open(f'/proc/{d}/stat').read()
                kids.setdefault(int(stat.rsplit(')', 1)[1].split()[1]), []).append(int(d))
            except OSError:
                pass
    return kids


def proc_cpu(pid):
    try:
        f = open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()
        return (int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])) / HZ
    except (OSError, IndexError):
        return 0.0


def tree_cpu(pid, kids):
    return proc_cpu(pid) + sum(tree_cpu(k, kids) for k in kids.get(pid, []))


def machine_busy():
    v = [int(x) for x in open('/proc/stat').readline().split()[1:9]]
    return (sum(v) - v[3] - v[4]) / HZ


def pg_pid():
    return int(open(os.path.join(WORK, 'pg', 'data', 'postmaster.pid')).readline())


def snapshot(server_pid):
    kids = children()
    t = os.times()
    return dict(machine=machine_busy(), pg=tree_cpu(pg_pid(), kids),
                server=tree_cpu(server_pid, kids) if server_pid else 0.0,
                loadgen=t.children_user + t.children_system)


def cpu_delta(s0, s1, reqs, secs):
    d = {k: s1[k] - s0[k] for k in s0}
    return dict(srv_ms=d['server'] * 1000 / max(reqs, 1), pg_ms=d['pg'] * 1000 / max(reqs, 1),
                lg_ms=d['loadgen'] * 1000 / max(reqs, 1), busy=d['machine'] * 100 / (NCPU * secs),
                foreign=max(0.0, d['machine'] - d['server'] - d['pg'] - d['loadgen']) * 100 / (NCPU * secs))


def rss_kib(pid, key='VmRSS'):
    for line in open(f'/proc/{pid}/status'):
        if line.startswith(key + ':'):
            return int(line.split()[1])
    return 0


def post(url, body, tok=None, timeout=30):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={'content-type': 'application/json'})
    if tok:
        req.add_header('authorization', 'Bearer ' + tok)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b'{}')


def gql(url, query, tok=None):
    status, body = post(url, {'query': query}, tok)
    if status != 200 or body.get('errors') or 'data' not in body:
        raise SystemExit(f'BAD RESPONSE from {url}: {status} {json.dumps(body)[:400]}\n  query: {query}')
    return body['data']


def psql(sql, db=DB):
    out = subprocess.run(['psql', '-qAtX', '-F', '\t', '-v', 'ON_ERROR_STOP=1', '-d', db, '-c', sql],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f'psql failed: {out.stderr}\n  {sql[:300]}')
    return [line.split('\t') for line in out.stdout.splitlines() if line]


def metric(url, name):
    """A counter from portal-admin's /metrics (summed over labels); None if it does not exist."""
    try:
        with urllib.request.urlopen(url.replace('/graphql', '/metrics'), timeout=5) as r:
            text = r.read().decode()
    except (urllib.error.URLError, OSError):
        return None
    values = [float(m.group(1)) for m in re.finditer(rf'^{name}(?:{{[^}}]*}})? ([0-9.e+]+)$', text, re.M)]
    return sum(values) if values else None


def record(kind, **row):
    os.makedirs(RESULTS, exist_ok=True)
    row = dict(kind=kind, at=time.strftime('%Y-%m-%dT%H:%M:%S'), **row)
    with open(os.path.join(RESULTS, 'results.jsonl'), 'a') as f:
        f.write(json.dumps(row) + '\n')
    return row


def wait_quiet():
    """Blocks until the box is quiet; returns the busy % seen last (recorded with every run)."""
    pct, most = float(os.environ.get('QUIET_PCT', '8')), float(os.environ.get('QUIET_MAX', '600'))
    start = time.time()
    while True:
        t0 = [int(x) for x in open('/proc/stat').readline().split()[1:9]]
        time.sleep(2)
        t1 = [int(x) for x in open('/proc/stat').readline().split()[1:9]]
        total, idle = sum(t1) - sum(t0), (t1[3] + t1[4]) - (t0[3] + t0[4])
        busy = 100 * (1 - idle / max(total, 1))
        if busy < pct:
            return busy
        if time.time() - start > most:
            print(f'  WARNING: box still {busy:.0f}% busy after {most:.0f}s; measuring anyway', file=sys.stderr)
            return busy
        print(f'  box {busy:.0f}% busy (other jobs), waiting for < {pct:.0f}% ...', file=sys.stderr)
        time.sleep(5)


# ---------------------------------------------------------------------------------------------
# pgbench scripts: templates in bench/pgbench with {{name}} filled from the database.

def template_values():
    values = {'admin_id': psql(f"SELECT id FROM users WHERE email = '{os.environ['BENCH_ADMIN_EMAIL']}'")[0][0]}
    ids = psql('SELECT id FROM users ORDER BY lower(name), id LIMIT 50')
    values['b_page_ids'] = ','.join(r[0] for r in ids)
    return values


def pgbench_script(name):
    generated = os.path.join(WORK, 'pgbench', name)
    source = os.path.join(BENCH, 'pgbench', name)
    if not os.path.exists(source):
        if os.path.exists(generated):  # w_product.sql, written by `capture`
            return generated
        raise SystemExit(f'{name}: run `bench.py capture` first')
    text = open(source).read()
    for k, v in template_values().items() if '{{' in text else []:
        text = text.replace('{{' + k + '}}', v)
    os.makedirs(os.path.dirname(generated), exist_ok=True)
    open(generated, 'w').write(text)
    return generated


# ---------------------------------------------------------------------------------------------
# Load: one wrk or pgbench run.

def wrk(url, body_file, conc, secs, tok='', lua='post.lua', timeout='10s'):
    env = dict(os.environ, BODY_FILE=body_file or '', AUTH_TOKEN=tok or '', WRK_THREADS=WRK_THREADS)
    out = subprocess.run(['wrk', f'-t{WRK_THREADS}', f'-c{conc}', f'-d{secs}s', '--timeout', timeout,
                          '-s', os.path.join(BENCH, 'wrk', lua), url], env=env, capture_output=True, text=True)
    if 'RESULT' not in out.stdout:
        raise SystemExit(f'wrk failed: {out.stdout}{out.stderr}')
    r = dict(re.findall(r'(\w+)=([\d.]+)', out.stdout.split('RESULT', 1)[1]))
    return dict(rps=float(r['rps']), p50=float(r['p50_ms']), p90=float(r['p90_ms']), p99=float(r['p99_ms']),
                max=float(r['max_ms']), reqs=int(r['reqs']), errors=int(r['errors']))


def body_file(q, target):
    path = os.path.join(WORK, 'bodies', f'{q}.{target}.json')
    os.makedirs(os.path.dirname(path), exist_ok=True)
    query = QUERIES[q].pg4 if target == 'pg4' else QUERIES[q].pa
    json.dump({'query': query}, open(path, 'w'))
    return path


def run_http(target, q, conc, secs, warm):
    if target == 'pg4':
        url, tok, pid = PG4_URL, '', read_pid('pg4')
    else:
        t = pa_targets()[target]
        url, tok, pid = t['url'], token(target), read_pid(target)
    lua = 'update_company.lua' if q == 'w' else 'post.lua'
    bf = body_file(q, target)
    if q != 'w':
        gql(url, json.load(open(bf))['query'], tok)   # a GraphQL error is an HTTP 200: check first
    if warm:
        wrk(url, bf, conc, warm, tok, lua)
    s0 = snapshot(pid)
    m0 = metric(url, 'portal_admin_db_statements_total') if target != 'pg4' else None
    r = wrk(url, bf, conc, secs, tok, lua)
    s1 = snapshot(pid)
    m1 = metric(url, 'portal_admin_db_statements_total') if target != 'pg4' else None
    r.update(cpu_delta(s0, s1, r['reqs'], secs))
    if m0 is not None and m1 is not None:
        r['metrics_stmts'] = (m1 - m0) / max(r['reqs'], 1)
    return r


def run_pgbench(script, conc, secs, warm):
    path = pgbench_script(script)
    base = [f'{PGBIN}/pgbench', '-n', '-M', 'prepared', '-c', str(conc), '-j', '2', '-f', path, DB]
    if warm:
        subprocess.run(base + ['-T', str(warm)], capture_output=True)
    with tempfile.TemporaryDirectory() as tmp:
        s0 = snapshot(None)
        out = subprocess.run(base + ['-T', str(secs), '--log', '--log-prefix=tx'], cwd=tmp,
                             capture_output=True, text=True)
        s1 = snapshot(None)
        lat = sorted(int(line.split()[2]) / 1000.0 for fn in glob.glob(tmp + '/tx*') for line in open(fn))
    text = out.stdout + out.stderr
    m = re.search(r'tps = ([\d.]+)', text)
    if out.returncode != 0 or not m or not lat:
        raise SystemExit(f'pgbench {script} failed: {text[-800:]}')
    n = len(lat)
    fails = re.search(r'number of failed transactions: (\d+)', text)
    r = dict(rps=float(m.group(1)), p50=lat[n // 2], p90=lat[int(n * 0.9)], p99=lat[min(n - 1, int(n * 0.99))],
             max=lat[-1], reqs=n, errors=int(fails.group(1)) if fails else 0)
    r.update(cpu_delta(s0, s1, n, secs))
    return r


# ---------------------------------------------------------------------------------------------
# check: the same leaf values from both peers, the same rows from the pgbench SQL.

def ts(s):
    return None if s is None else re.sub(r'(\.0+)?(Z|\+00:00)?$', '', s)


def leaves(q, target, data):
    """The answer reduced to comparable leaf values (the peers name and shape fields differently)."""
    if q == 'a':
        u = data['user'] if target != 'pg4' else data['userById']
        status = u.get('status') or ('DISCARDED' if u['discardedAt'] else 'ACTIVE' if u['activatedAt'] else 'INVITED')
        return [u['id'], u['name'], u['email'], u['role'], status, ts(u['discardedAt']), ts(u['lastSignInAt'])]
    if q == 'b':
        if target == 'pg4':
            return [[u['id'], u['name'], u['email'], u['role'],
                     sorted([m['role'], m['companyByCompanyId']['id'], m['companyByCompanyId']['name']]
                            for m in u['companyMembershipsByUserIdList'])] for u in data['allUsersList']]
        return [[u['id'], u['name'], u['email'], u['role'],
                 sorted([m['role'], m['company']['id'], m['company']['name']] for m in u['memberships'])]
                for u in data['users']['nodes']]
    if q == 'c':
        if target == 'pg4':
            return [[e['id'], ts(e['occurredAt']), e['action'], e['recordType'], e['recordId'], e['actorId'],
                     e['impersonatorId'] is not None,
                     [[c['field'], c['beforeValue'], c['afterValue']] for c in e['auditChangesByEventIdList']]]
                    for e in data['allAuditEventsList']]
        return [[e['id'], ts(e['occurredAt']), e['action'], e['recordType'], e['recordId'],
                 e['actor'] and e['actor']['id'], e['viaImpersonation'],
                 [[c['field'], c['before'], c['after']] for c in e['changes']]] for e in data['auditEvents']['nodes']]
    raise ValueError(q)


def sql_ids(q):
    """The ids the pgbench SQL returns (first column of its last statement, in order, deduplicated)."""
    path = pgbench_script(QUERIES[q].sql)
    statements = [s for s in open(path).read().split(';') if s.strip() and not s.strip().startswith('\\')]
    sql = re.sub(r'--[^\n]*', '', statements[0 if q in 'ab' else -1])
    return list(dict.fromkeys(r[0] for r in psql(sql)))


def cmd_check(args):
    ok = True
    pa = pa_targets()
    for q in args.only.split(','):
        spec = QUERIES[q]
        if q in ('w', 'v'):
            continue
        mine = gql(pa['pa']['url'], spec.pa, token('pa'))
        if spec.pg4:
            a = leaves(q, 'pa', mine)
            b = leaves(q, 'pg4', gql(PG4_URL, spec.pg4))
            same = a == b and len(json.dumps(a)) > 20
            ok &= same
            print(f'  {q}: portal-admin vs PostGraphile: {"SAME" if same else "DIFFERENT"} '
                  f'({len(json.dumps(a))} chars of leaf values)')
            if not same:
                print('    pa :', json.dumps(a)[:300], '\n    pg4:', json.dumps(b)[:300])
        if spec.sql:
            root = mine['user'] if q == 'a' else next(iter(mine.values()))
            pa_ids = [root['id']] if q == 'a' else [n['id'] for n in root['nodes']]
            same = sql_ids(q) == pa_ids and pa_ids
            ok &= bool(same)
            print(f'  {q}: portal-admin vs pgbench SQL ({spec.sql}): {"SAME ids" if same else "DIFFERENT"} '
                  f'({len(pa_ids)} rows)')
            if not same:
                print('    pa :', pa_ids[:10], '\n    sql:', sql_ids(q)[:10])
        if spec.sqlite and os.path.exists(pidfile('sqlite')):
            other = gql(pa['sqlite']['url'], spec.pa, token('sqlite'))
            same = leaves(q, 'pa', mine) == leaves(q, 'sqlite', other)
            ok &= same
            print(f'  {q}: PostgreSQL vs SQLite copy: {"SAME" if same else "DIFFERENT"}')
    record('check', ok=ok)
    if not ok:
        raise SystemExit('check failed: the peers do not return the same data; not timing them')


# ---------------------------------------------------------------------------------------------
# stmts: statements per request, from pg_stat_statements on the private cluster and portal-admin's
# own counter.

def cmd_stmts(args):
    for q in args.only.split(','):
        spec = QUERIES[q]
        for target in ['pa'] + (['pg4'] if spec.pg4 else []):
            psql('SELECT pg_stat_statements_reset()', db='postgres')
            r = run_http(target, q, 4 if q != 'w' else 2, args.secs, 0)
            rows = psql(f"""SELECT calls, round(mean_exec_time::numeric, 3), left(regexp_replace(query, '\\s+', ' ', 'g'), 150)
                              FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
                             WHERE d.datname = '{DB}' ORDER BY calls DESC""", db='postgres')
            total = sum(int(c) for c, _, _ in rows)
            per = total / max(r['reqs'], 1)
            shown = [(int(c) / r['reqs'], float(ms), text) for c, ms, text in rows if int(c) / r['reqs'] >= 0.01]
            record('stmts', target=target, query=q, reqs=r['reqs'], per_request=per,
                   metrics_per_request=r.get('metrics_stmts'), statements=shown)
            extra = f", /metrics {r['metrics_stmts']:.2f}" if r.get('metrics_stmts') is not None else ''
            print(f'  {q} {target:6s}: {per:6.2f} statements per request (pg_stat_statements{extra}), {r["reqs"]} requests')
            for calls, ms, text in shown[:16]:
                print(f'      {calls:5.2f} x {ms:7.3f} ms  {text}')


# ---------------------------------------------------------------------------------------------
# capture: the statements one audited update runs, from the PostgreSQL log, as a pgbench script.

def cmd_capture(args):
    log = os.path.join(WORK, 'pg', 'pg.log')
    # One update first, so the session's activity write-back (once a minute) is not due in the
    # captured one: the steady-state statements.
    gql(pa_targets()['pa']['url'], 'mutation { updateCompany(input: {id: "7", billingRateCents: 4242}) { id } }',
        token('pa'))
    start = os.path.getsize(log)
    psql("ALTER SYSTEM SET log_statement = 'all'", db='postgres')
    psql('SELECT pg_reload_conf()', db='postgres')
    time.sleep(0.5)
    try:
        url = pa_targets()['pa']['url']
        marker = 987_654_321 + int(time.time()) % 1000
        data = gql(url, f'mutation {{ updateCompany(input: {{id: "7", billingRateCents: {marker}}}) '
                        f'{{ id billingRateCents version }} }}', token('pa'))
        assert data['updateCompany']['billingRateCents'] == marker
    finally:
        psql('ALTER SYSTEM RESET log_statement', db='postgres')
        psql('SELECT pg_reload_conf()', db='postgres')
    with open(log, errors='replace') as f:
        f.seek(start)
        lines = f.read().splitlines()
    # [PID] LOG:  statement: SQL  |  [PID] LOG:  execute NAME: SQL  +  DETAIL:  parameters: $1 = '…', …
    logged, i = [], 0
    while i < len(lines):
        m = re.search(r'\[(\d+)\] LOG:  (?:statement|execute [^:]*): (.*)$', lines[i])
        i += 1
        if not m:
            continue
        pid, sql = m.group(1), m.group(2)
        while i < len(lines) and not re.search(r'(LOG|DETAIL|ERROR|STATEMENT|WARNING):  ', lines[i]):
            sql += '\n' + lines[i]
            i += 1
        if i < len(lines) and 'DETAIL:  parameters:' in lines[i]:
            params = dict(re.findall(r"(\$\d+) = ('(?:[^']|'')*'|NULL)", lines[i]))
            sql = re.sub(r'\$\d+', lambda p: params.get(p.group(0), p.group(0)), sql)
            i += 1
        if 'pg_reload_conf' not in sql and 'log_statement' not in sql:
            logged.append((pid, ' '.join(sql.split())))
    # Leave out what background tasks ran meanwhile (the mail worker's poll: a pool check, then a
    # transaction on mail_outbox), by backend: drop each such transaction with its check.
    statements, skip = [], set()
    for n, (pid, sql) in enumerate(logged):
        if sql == 'BEGIN':
            block = []
            for m2 in range(n, len(logged)):
                if logged[m2][0] == pid:
                    block.append(m2)
                    if logged[m2][1] == 'COMMIT':
                        break
            if any('mail_outbox' in logged[k][1] for k in block):
                skip.update(block)
                before = [k for k in range(n) if logged[k][0] == pid]
                if before and logged[before[-1]][1] == "SELECT '1'":
                    skip.add(before[-1])
    statements = [sql for n, (_, sql) in enumerate(logged) if n not in skip]
    if not any(str(marker) in s for s in statements):
        raise SystemExit('capture: the update was not in the log (is log_statement allowed?)')
    # Replay with a random company and value, like the other write scripts; the audit rows point
    # at the event the replay inserted.
    script = ['-- The statements one audited updateCompany(billingRateCents) ran, captured from the PostgreSQL',
              f'-- log by `bench.py capture` on {time.strftime("%Y-%m-%d")} (parameters inlined).',
              '\\set id random(1, 500)', '\\set v random(1000, 1000000)']
    event = "currval(pg_get_serial_sequence('audit_events', 'id'))"
    for s in statements:
        s = s.replace(f"'{marker}'", ':v').replace(str(marker), ':v')
        s = s.replace('"companies"."id" = \'7\'', '"companies"."id" = :id')
        s = s.replace("'COMPANY', '7'", "'COMPANY', :id")
        s = re.sub(r"(INSERT INTO \"audit_(?:changes|event_refs)\" \([^)]*\) VALUES \()'\d+'", lambda m: m.group(1) + event, s)
        script.append(s + ';')
    os.makedirs(os.path.join(WORK, 'pgbench'), exist_ok=True)
    out = os.path.join(WORK, 'pgbench', 'w_product.sql')
    open(out, 'w').write('\n'.join(script) + '\n')
    transactions = sum(1 for s in statements if s.upper().startswith(('BEGIN', 'COMMIT')))
    record('capture', statements=statements, count=len(statements), script=out)
    print(f'  updateCompany ran {len(statements)} statements ({transactions} BEGIN/COMMIT); script: {out}')
    for s in statements:
        print('     ', ' '.join(s.split())[:150])


# ---------------------------------------------------------------------------------------------
# load: interleaved rounds. For each query, each round runs every target once, the order
# rotated per round so none always goes first; ratios are taken within a round.

def load_targets(q, include_sqlite=True):
    spec = QUERIES[q]
    targets = ['pa']
    if spec.pg4:
        targets.append('pg4')
    if spec.sql:
        targets.append('pgbench:' + spec.sql)
    targets += ['pgbench:' + s for s in spec.extra_sql]
    if spec.sqlite and include_sqlite and os.path.exists(pidfile('sqlite')):
        targets.append('sqlite')
    return targets


def cmd_load(args):
    for q in args.only.split(','):
        spec = QUERIES[q]
        conc = args.conc if args.conc else spec.conc
        targets = load_targets(q, not args.no_sqlite)
        print(f'== {spec.title} (c={conc}) ==')
        for rnd in range(1, args.rounds + 1):
            k = (rnd - 1) % len(targets)
            for target in targets[k:] + targets[:k]:
                busy = wait_quiet()
                if target.startswith('pgbench:'):
                    r = run_pgbench(target.split(':', 1)[1], conc, args.secs, args.warm)
                else:
                    r = run_http(target, q, conc, args.secs, args.warm)
                row = record('load', query=q, target=target, round=rnd, conc=conc, secs=args.secs,
                             quiet_busy=busy, **r)
                print(f"  round {rnd} {target:32s} rps {r['rps']:8.0f}  p50 {r['p50']:7.2f}  p99 {r['p99']:7.2f} ms"
                      f"  cpu/req srv {r['srv_ms']:.3f} pg {r['pg_ms']:.3f} ms  errors {r['errors']}"
                      f"  foreign {r['foreign']:.0f}%", flush=True)
                if row['errors']:
                    print(f'  WARNING: {row["errors"]} failed requests', file=sys.stderr)


# ---------------------------------------------------------------------------------------------
# memory: a fresh server (PA_MEM_PORT), RSS idle, then bursts of 200 parallel sign-ins.

def burst(url, n, body):
    """n sign-ins at once, one connection each; returns the answers' codes."""
    results = []
    barrier = threading.Barrier(n)

    def one():
        barrier.wait()
        try:
            status, b = post(url, body, timeout=120)
            results.append('OK' if b.get('data') and b['data'].get('signIn') else
                           (b.get('errors') or [{}])[0].get('extensions', {}).get('code', str(status)))
        except Exception as e:  # a refused connection is an answer too
            results.append(type(e).__name__)

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def sign_in_body():
    return {'query': 'mutation($i: SignInInput!) { signIn(input: $i) { token } }',
            'variables': {'i': {'email': os.environ['BENCH_ADMIN_EMAIL'],
                                'password': os.environ['BENCH_ADMIN_PASSWORD']}}}


def cmd_memory(args):
    name = args.name
    pid = read_pid(name)
    if not pid:
        raise SystemExit(f'no server {name}: start it with `run.sh up-memory`')
    url = f"http://127.0.0.1:{os.environ.get('PA_MEM_PORT', '18602')}/graphql"
    time.sleep(2)
    idle = rss_kib(pid)
    peak, stop = [idle], threading.Event()

    def sample():
        while not stop.is_set():
            peak.append(rss_kib(pid))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    answers = []
    for _ in range(args.bursts):
        answers += burst(url, args.size, sign_in_body())
        time.sleep(args.pause)
    stop.set()
    sampler.join()
    after_burst = rss_kib(pid)
    time.sleep(args.settle)
    after = rss_kib(pid)
    hwm = rss_kib(pid, 'VmHWM')
    codes = {c: answers.count(c) for c in sorted(set(answers))}
    row = record('memory', variant=args.variant, idle_kib=idle, peak_kib=max(max(peak), hwm), after_kib=after,
                 after_burst_kib=after_burst, bursts=args.bursts, size=args.size, answers=codes)
    print(f"  {args.variant}: RSS idle {idle / 1024:.1f} MiB, peak {row['peak_kib'] / 1024:.1f} MiB, "
          f"right after {after_burst / 1024:.1f} MiB, {args.settle:.0f} s later {after / 1024:.1f} MiB "
          f"({after / idle:.2f}x idle); {args.bursts} bursts of {args.size}: {codes}")


# ---------------------------------------------------------------------------------------------
# contention: viewer latency idle vs while 50 sign-ins run (argon2), interleaved.

def cmd_contention(args):
    url = pa_targets()['pa']['url']
    bf = body_file('v', 'pa')
    sign_in = os.path.join(WORK, 'bodies', 'sign_in.json')
    json.dump(sign_in_body(), open(sign_in, 'w'))
    tok = token('pa')
    gql(url, QUERIES['v'].pa, tok)
    for rnd in range(1, args.rounds + 1):
        busy = wait_quiet()
        idle = wrk(url, bf, args.viewer_conc, args.secs, tok)
        record('contention', round=rnd, phase='idle', quiet_busy=busy, **idle)
        out = {}

        def signins():
            out['r'] = wrk(url, sign_in, 50, args.secs + 3, '', timeout='30s')

        t = threading.Thread(target=signins)
        t.start()
        time.sleep(1.5)
        loaded = wrk(url, bf, args.viewer_conc, args.secs, tok)
        t.join()
        record('contention', round=rnd, phase='signins', sign_ins=out['r'], **loaded)
        print(f"  round {rnd}: viewer idle p50 {idle['p50']:.2f} p99 {idle['p99']:.2f} ms ({idle['rps']:.0f} rps); "
              f"during 50 sign-ins p50 {loaded['p50']:.2f} p99 {loaded['p99']:.2f} ms ({loaded['rps']:.0f} rps) "
              f"= {loaded['p99'] / max(idle['p99'], 1e-9):.2f}x; sign-ins {out['r']['rps']:.0f}/s "
              f"p99 {out['r']['p99']:.0f} ms", flush=True)


def cmd_rss(args):
    url, pid, tok = pa_targets()['pa']['url'], read_pid('pa'), token('pa')
    idle = rss_kib(pid)
    peak, stop = [idle], threading.Event()

    def sample():
        while not stop.is_set():
            peak.append(rss_kib(pid))
            time.sleep(0.05)

    s = threading.Thread(target=sample)
    s.start()
    r = wrk(url, body_file('b', 'pa'), 64, args.secs, tok)
    stop.set()
    s.join()
    record('rss', idle_kib=idle, c64_kib=max(peak), rps=r['rps'], p99=r['p99'])
    print(f"  RSS idle {idle / 1024:.1f} MiB; at c=64 on b {max(peak) / 1024:.1f} MiB ({r['rps']:.0f} rps, p99 {r['p99']:.0f} ms)")


# ---------------------------------------------------------------------------------------------
# report: medians over rounds, within-round ratios, statements; markdown.

def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def cmd_report(args):
    path = os.path.join(args.dir or RESULTS, 'results.jsonl')
    rows = [json.loads(line) for line in open(path)]
    load = [r for r in rows if r['kind'] == 'load']
    stmts = {(r['query'], r['target']): r for r in rows if r['kind'] == 'stmts'}
    f = lambda v, p=0: '-' if v is None else f'{v:.{p}f}'
    print(f'\nresults: {path}')
    print('\n| request | target | rps | p50 / p99 ms | CPU ms/req server + PG | statements/req (pgss; /metrics) '
          '| pa/target rps (rounds) | foreign CPU |')
    print('|---|---|---|---|---|---|---|---|')
    for q in dict.fromkeys(r['query'] for r in load):
        targets = list(dict.fromkeys(r['target'] for r in load if r['query'] == q))
        for t in targets:
            rs = [r for r in load if r['query'] == q and r['target'] == t]
            st = stmts.get((q, t))
            ratios = []
            for rnd in sorted({r['round'] for r in rs}):
                x = [r for r in load if r['query'] == q and r['target'] == 'pa' and r['round'] == rnd]
                y = [r for r in rs if r['round'] == rnd]
                if x and y and t != 'pa':
                    ratios.append(x[0]['rps'] / y[0]['rps'])
            ratio = f"{med(ratios):.2f}x ({', '.join(f'{v:.2f}' for v in ratios)})" if ratios else ''
            stm = '-' if not st else f"{st['per_request']:.2f}" + (
                f"; {st['metrics_per_request']:.2f}" if st.get('metrics_per_request') is not None else '')
            name = t.replace('pgbench:', 'pgbench ').replace('.sql', '')
            print(f"| {QUERIES[q].title if t == targets[0] else ''} | {name} | {f(med(r['rps'] for r in rs))} "
                  f"| {f(med(r['p50'] for r in rs), 2)} / {f(med(r['p99'] for r in rs), 1)} "
                  f"| {f(med(r['srv_ms'] for r in rs), 3)} + {f(med(r['pg_ms'] for r in rs), 3)} "
                  f"| {stm} | {ratio} | {f(max(r['foreign'] for r in rs))}% max |")
    cpu_ratio_rows = []
    for q in dict.fromkeys(r['query'] for r in load):
        for t in ('pg4',):
            x = [r for r in load if r['query'] == q and r['target'] == 'pa']
            y = [r for r in load if r['query'] == q and r['target'] == t]
            if x and y:
                a = med(r['srv_ms'] + r['pg_ms'] for r in x)
                b = med(r['srv_ms'] + r['pg_ms'] for r in y)
                cpu_ratio_rows.append(f'{q}: {a:.3f} / {b:.3f} = {a / b:.2f}x')
    if cpu_ratio_rows:
        print('\nCPU per request (server + PostgreSQL), portal-admin / PostGraphile: ' + '; '.join(cpu_ratio_rows))
    w = [r for r in load if r['query'] == 'w']
    if w:
        by = lambda t: med(r['rps'] for r in w if r['target'] == t)
        pa, prod = by('pa'), by('pgbench:w_product.sql')
        lean, bare = by('pgbench:w_lean_audited.sql'), by('pgbench:w_bare_update.sql')
        if pa and prod and lean:
            print(f'audited update: portal-admin / pgbench(own statements) = {pa / prod:.2f}x; '
                  f'own statements cost {lean / prod:.2f}x the lean UPDATE + audit INSERTs'
                  + (f'; bare UPDATE {bare:.0f} tps' if bare else ''))
    for r in rows:
        if r['kind'] == 'capture':
            print(f"audited update: {r['count']} statements (captured {r['at']})")
    for r in rows:
        if r['kind'] == 'memory':
            print(f"memory [{r['variant']}]: RSS idle {r['idle_kib'] / 1024:.1f} MiB, peak {r['peak_kib'] / 1024:.1f} MiB, "
                  f"after {r['after_kib'] / 1024:.1f} MiB ({r['after_kib'] / r['idle_kib']:.2f}x idle); {r['answers']}")
        if r['kind'] == 'rss':
            print(f"RSS idle {r['idle_kib'] / 1024:.1f} MiB, at c=64 on b {r['c64_kib'] / 1024:.1f} MiB")
    cont = [r for r in rows if r['kind'] == 'contention']
    if cont:
        idle = med(r['p99'] for r in cont if r['phase'] == 'idle')
        loaded = med(r['p99'] for r in cont if r['phase'] == 'signins')
        print(f'viewer p99 idle {idle:.2f} ms, during 50 sign-ins {loaded:.2f} ms = {loaded / idle:.2f}x (median of rounds)')


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('command', choices=['check', 'stmts', 'capture', 'load', 'memory', 'contention', 'rss', 'report'])
    ap.add_argument('dir', nargs='?', help='report: a results directory (default: the current one)')
    ap.add_argument('--only', default=DEFAULT_ONLY, help=f'queries, comma-separated (default {DEFAULT_ONLY})')
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--conc', type=int, default=0, help='connections (default: 16; 8 for w)')
    ap.add_argument('--secs', type=int, default=10)
    ap.add_argument('--warm', type=int, default=3)
    ap.add_argument('--no-sqlite', action='store_true', help='load: leave out the SQLite copy')
    ap.add_argument('--viewer-conc', type=int, default=4)
    ap.add_argument('--bursts', type=int, default=5)
    ap.add_argument('--size', type=int, default=200)
    ap.add_argument('--pause', type=float, default=1.0)
    ap.add_argument('--settle', type=float, default=10.0)
    ap.add_argument('--variant', default=os.environ.get('BENCH_VARIANT', 'this build'))
    ap.add_argument('--name', default='mem')
    args = ap.parse_args()
    if args.command == 'stmts' and args.secs == 10:
        args.secs = 3
    globals()['cmd_' + args.command](args)


if __name__ == '__main__':
    main()
