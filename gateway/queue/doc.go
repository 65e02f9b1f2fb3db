// Package queue is the gateway's durable job queue: River on whichever
// database the gateway uses. Work caused by a webhook or an API call is
// inserted with InsertTx in the same transaction that records it, and workers
// finish a job with CompleteTx in the transaction that records its effect, so a
// job's outcome is committed exactly once.
package queue
