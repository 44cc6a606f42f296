/* Loading on a thread of its own, applying on the loop: see include/guichet/reload.h. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <osmocom/core/select.h>
#include <osmocom/core/talloc.h>

#include "guichet/log.h"
#include "guichet/reload.h"

/* One load: shared by the loader thread and the loop, freed by the last one to let go, so
 * that a stop never waits for a load (the loop lets go of it and the thread finishes alone,
 * or the process exits under it). */
struct job {
	reload_load_fn load;
	char *file;
	int fd;			/* the loader's own descriptor of the eventfd */
	int refs;		/* atomic: 2 while both hold it */
	struct reload_result res;
};

struct reload {
	char *file;
	reload_load_fn load;
	reload_done_fn done;
	void *data;
	struct osmo_fd ofd;	/* eventfd: written by the loader when it is done */
	pthread_t th;
	struct job *job;	/* the load in progress, NULL when none */
	bool again;
};

static void job_unref(struct job *j)
{
	if (__atomic_sub_fetch(&j->refs, 1, __ATOMIC_ACQ_REL))
		return;
	talloc_free(j->res.ctx);
	if (j->fd >= 0)
		close(j->fd);
	free(j->file);
	free(j);
}

static void *loader(void *arg)
{
	struct job *j = arg;
	uint64_t one = 1;

	j->load(&j->res, j->file);
	/* The write is the hand-over: after it the loop may read the result. */
	while (write(j->fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
	job_unref(j);
	return NULL;
}

static struct job *job_new(struct reload *rl)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	j->load = rl->load;
	j->refs = 2;
	j->file = strdup(rl->file);
	j->fd = fcntl(rl->ofd.fd, F_DUPFD_CLOEXEC, 0);
	/* Not under rl nor the daemon: the loader allocates in it while the loop allocates
	 * elsewhere. */
	j->res.ctx = talloc_named_const(NULL, 0, "reload");
	j->res.diag = j->res.ctx ? diag_alloc(j->res.ctx) : NULL;
	if (!j->file || j->fd < 0 || !j->res.diag) {
		j->refs = 1;
		job_unref(j);
		return NULL;
	}
	return j;
}

/* On the loop, once the loader has let go of j (or never had it). */
static void finish(struct reload *rl, struct job *j)
{
	rl->done(rl->data, &j->res);
	job_unref(j);
}

bool reload_request(struct reload *rl)
{
	struct job *j;
	int rc;

	if (rl->job) {
		rl->again = true;
		return true;
	}
	j = job_new(rl);
	if (!j) {
		glog(GLOG_CONFIG, LOGL_ERROR, NULL, "reload: out of memory or descriptors");
		return true;
	}
	rc = pthread_create(&rl->th, NULL, loader, j);
	if (rc == 0) {
		rl->job = j;
		return true;
	}
	glog(GLOG_CONFIG, LOGL_ERROR, NULL, "reload: no thread (%s): loading on the loop",
	     strerror(rc));
	j->load(&j->res, j->file);
	j->refs = 1;
	finish(rl, j);
	return false;
}

bool reload_running(const struct reload *rl)
{
	return rl && rl->job;
}

static int ready_cb(struct osmo_fd *ofd, unsigned what)
{
	struct reload *rl = ofd->data;
	struct job *j = rl->job;
	uint64_t v;

	(void)what;
	if (read(ofd->fd, &v, sizeof(v)) != sizeof(v) || !j)
		return 0;
	pthread_join(rl->th, NULL);
	rl->job = NULL;
	finish(rl, j);
	if (rl->again) {
		rl->again = false;
		reload_request(rl);
	}
	return 0;
}

static int reload_destroy(struct reload *rl)
{
	if (rl->job) {
		/* A stop does not wait for the load: the thread finishes (or dies) alone. */
		pthread_detach(rl->th);
		job_unref(rl->job);
		rl->job = NULL;
	}
	if (rl->ofd.fd >= 0) {
		osmo_fd_unregister(&rl->ofd);
		close(rl->ofd.fd);
	}
	return 0;
}

struct reload *reload_create(void *ctx, const char *config_file, reload_load_fn load,
			     reload_done_fn done, void *data)
{
	struct reload *rl = talloc_zero(ctx, struct reload);
	int fd;

	if (!rl)
		return NULL;
	rl->ofd.fd = -1;
	rl->file = talloc_strdup(rl, config_file);
	rl->load = load;
	rl->done = done;
	rl->data = data;
	fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!rl->file || fd < 0) {
		if (fd >= 0)
			close(fd);
		talloc_free(rl);
		return NULL;
	}
	osmo_fd_setup(&rl->ofd, fd, OSMO_FD_READ, ready_cb, rl, 0);
	if (osmo_fd_register(&rl->ofd) < 0) {
		close(fd);
		talloc_free(rl);
		return NULL;
	}
	talloc_set_destructor(rl, reload_destroy);
	return rl;
}
