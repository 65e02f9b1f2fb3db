// Package retention keeps the tables bounded: a periodic job, run by the
// elected leader only (so once across replicas), calls every package's purge
// with the current time. Each package owns what expires in its tables and
// exposes it as one Purge; the composition root lists them.
package retention
