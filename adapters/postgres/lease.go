package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// leaseClass is the first key of every lease's advisory lock, so that the
// leases cannot collide with the hub's other advisory locks (which use the
// one-key form).
const leaseClass = int32(0x43504c31) // "CPL1"

// ErrLeaseLost ends a holder's work: its lease connection stopped answering,
// so PostgreSQL may already have given the lease to another instance.
var ErrLeaseLost = errors.New("lease lost")

// Lease is one instance's hold on a named role (the linker, a projection):
// a session-level advisory lock on a connection of its own. PostgreSQL ends
// the lock with the session, so the lease goes as soon as the holder's
// process dies (its socket closes) or its connection is cut (TCP keepalive),
// and no clock or TTL has to be trusted.
type Lease struct {
	Name string
	conn *pgx.Conn
}

// leaseConfig is the pool's connection configuration with keepalives tight
// enough that the server drops a vanished holder's session, and with it the
// lease, within about 15 seconds.
func leaseConfig(base *pgx.ConnConfig) *pgx.ConnConfig {
	cfg := base.Copy()
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	// Operators (and LeaseHolder) see which instance holds a lease: the
	// host and process id, nothing else.
	host, _ := os.Hostname()
	cfg.RuntimeParams["application_name"] = fmt.Sprintf("contactpoint-lease/%s/%d", host, os.Getpid())
	cfg.RuntimeParams["tcp_keepalives_idle"] = "5"
	cfg.RuntimeParams["tcp_keepalives_interval"] = "2"
	cfg.RuntimeParams["tcp_keepalives_count"] = "4"
	return cfg
}

func leaseKey(name string) int32 { return int32(crc32.ChecksumIEEE([]byte("lease:" + name))) }

// TryLease takes the named lease if nobody holds it; it reports false,
// without error, when another session does.
func TryLease(ctx context.Context, base *pgx.ConnConfig, name string) (*Lease, bool, error) {
	conn, err := pgx.ConnectConfig(ctx, leaseConfig(base))
	if err != nil {
		return nil, false, fmt.Errorf("lease %s: connect: %w", name, err)
	}
	var ok bool
	if err := conn.QueryRow(ctx, "select pg_try_advisory_lock($1, $2)", leaseClass, leaseKey(name)).Scan(&ok); err != nil {
		conn.Close(context.WithoutCancel(ctx)) //nolint:errcheck // the session and any lock end with it
		return nil, false, fmt.Errorf("lease %s: %w", name, err)
	}
	if !ok {
		conn.Close(context.WithoutCancel(ctx)) //nolint:errcheck // holds nothing
		return nil, false, nil
	}
	return &Lease{Name: name, conn: conn}, true, nil
}

// AcquireLease waits, trying every poll, until it holds the named lease or
// ctx ends. A database that does not answer is retried, not returned: the
// caller has nothing better to do than wait for it.
func AcquireLease(ctx context.Context, base *pgx.ConnConfig, name string, poll time.Duration, onErr func(error)) (*Lease, error) {
	for {
		l, ok, err := TryLease(ctx, base, name)
		if ok {
			return l, nil
		}
		if err != nil && ctx.Err() == nil && onErr != nil {
			onErr(err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(poll):
		}
	}
}

// Watch checks every interval that the lease's connection still answers and
// still holds the lock, and returns ErrLeaseLost as soon as it does not;
// nil when ctx ends first. The holder stops its work when Watch returns:
// from then on another instance may hold the lease.
func (l *Lease) Watch(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, max(interval, time.Second))
		var held bool
		err := l.conn.QueryRow(pctx, `select exists (select 1 from pg_locks where locktype = 'advisory'
			and classid = $1::int4::oid and objid = $2::int4::oid and objsubid = 2 and pid = pg_backend_pid() and granted)`,
			leaseClass, leaseKey(l.Name)).Scan(&held)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("lease %s: %w: %w", l.Name, ErrLeaseLost, err)
		}
		if !held {
			return fmt.Errorf("lease %s: %w", l.Name, ErrLeaseLost)
		}
	}
}

// Release gives the lease up by closing its session.
func (l *Lease) Release() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = l.conn.Close(ctx) // the lock ends with the session either way
}

// LeaseHolder names the instance holding the lease ("contactpoint-lease/
// <host>/<pid>"), or "" when nobody does.
func LeaseHolder(ctx context.Context, pool *pgxpool.Pool, name string) (string, error) {
	var app string
	err := pool.QueryRow(ctx, `select a.application_name from pg_locks l join pg_stat_activity a on a.pid = l.pid
		where l.locktype = 'advisory' and l.database = (select oid from pg_database where datname = current_database())
		and l.classid = $1::int4::oid and l.objid = $2::int4::oid and l.objsubid = 2 and l.granted`,
		leaseClass, leaseKey(name)).Scan(&app)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("lease %s holder: %w", name, err)
	}
	return app, nil
}
