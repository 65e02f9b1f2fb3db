-- PostgreSQL's 0003 switches the compression of deliveries.body to lz4.
-- SQLite stores blobs as they are and has nothing to switch; this file keeps
-- the two dialects' migration numbers in step.
SELECT 1;
