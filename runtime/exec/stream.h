/* Streaming execution (out-of-core EM): a program's sequences over this
 * process's events when they do not all fit in the per-event buffers.
 *
 * A sequence is cut at its reduce points into phases. A phase runs its
 * small steps (those without the event axis) once, then its per-event steps
 * for every chunk of events, and adds up (float64, by each stat buffer's
 * sum/max/min) the stat buffers that its reduce point completes; then the
 * reduce hook runs (MPI all-reduce) and the next phase starts. Per-event
 * values a phase reads but an earlier phase produced (the responsibilities
 * that the covariance statistics need) are recomputed for each chunk by
 * re-running their producing steps, with the parameters those steps saw
 * the first time (snapshots of buffers a later step overwrote). All of it
 * is derived from the sequence and the buffer kinds, for any spec.
 *
 * With one chunk (the events fit) a sequence runs as exec_run does, on data
 * bound once: the in-memory path, unchanged. */
#ifndef GMMC_STREAM_H
#define GMMC_STREAM_H

#include "exec.h"

typedef struct Stream Stream;

/* Writes the per-event inputs that no step of a sequence produces (the
 * initial responsibilities or labels of SEQ_MSTEP) for local rows
 * [row0, row0 + n), the chunk the exec holds now. */
typedef gmmc_status (*StreamFill)(void *user, Exec *e, int64_t row0, int64_t n, char **err);

/* Events per chunk: `requested` when > 0, else $GMMC_CHUNK_EVENTS when set,
 * else what fits in 40% of the backend's memory (no limit on the host,
 * whose memory_bytes is 0) and in `cap_bytes` of per-event buffers when
 * cap_bytes > 0. At most n_local, at least 64. */
int64_t stream_chunk_events(const Backend *be, const Program *p, int64_t requested, int64_t n_local, size_t cap_bytes);

/* The same when the data (resident_bytes of it) is already in the
 * backend's memory and read in place: only the other per-event buffers are
 * chunked, in what the resident data leaves of the 40%. */
int64_t stream_resident_chunk_events(const Backend *be, const Program *p, int64_t requested, int64_t n_local,
                                     size_t resident_bytes);

/* Per-event bytes of a program's buffers (the data's included unless the
 * backend reads it in place). */
size_t stream_event_bytes(const Backend *be, const Program *p);

/* An exec for `chunk` events over data (this process's n_local = data->rows
 * events of n_total in all), its data bound when one chunk holds them all. */
gmmc_status stream_create(Backend *be, const Program *p, BackendProgram *bp, const gmmc_data *data, int64_t n_total,
                          int64_t chunk, Stream **out, char **err);
void stream_destroy(Stream *s);
Exec *stream_exec(Stream *s);
/* Chunks per pass over the events (1: in memory). */
int64_t stream_chunks(const Stream *s);

/* Runs a sequence over all local events. `fill` (may be NULL) supplies
 * per-event inputs; it is called for each chunk of each phase that reads
 * them (once, for all events, in memory). Per-event outputs of the sequence
 * are left for the last chunk only: read them with stream_eval. */
gmmc_status stream_run(Stream *s, SeqId seq, StreamFill fill, void *user, char **err);

/* Runs the once statements (SEQ_ONCE) over all local events: the statistics
 * of the data (all-reduced across processes by the reduce hook) that the
 * M-step reads, and the per-event once buffers. Once per fit, before the
 * initialisation, on every process (it meets the others at its reduce
 * points; a process that cannot run it calls stream_skip(SEQ_ONCE)).
 * Streamed, the per-event once buffers are recomputed for each chunk as
 * it is bound (exec_refresh_once), by every sequence that reads them. */
gmmc_status stream_once(Stream *s, char **err);

/* For a process that cannot start a sequence (a failed step before it):
 * meets the others at its reduce points, so that they fail with it rather
 * than wait, and returns the error every process reports. */
gmmc_status stream_skip(Stream *s, SeqId seq, gmmc_status failed, char **err);

/* Computes the per-event buffer `buf` of sequence `seq` for local rows
 * [row0, row0 + n) (n <= the chunk size), running only the steps it depends
 * on, with the current parameters. Fails if it depends on a reduction over
 * events. */
gmmc_status stream_eval(Stream *s, SeqId seq, int buf, int64_t row0, int64_t n, char **err);

#endif
