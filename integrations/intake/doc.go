// Package intake records webhook deliveries durably and processes each one
// exactly once from the job queue: the source (GitHub, Linear) interprets the
// stored body into a Plan, and intake commits the plan's workspace, the
// source's follow-up jobs, the delivery's outcome and the job's completion in
// one transaction.
package intake
