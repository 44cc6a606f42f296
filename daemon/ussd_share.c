/* An aggregator dialogue's state shared between the hosts of one store: its history (secret
 * answers masked) and the row put, read and dropped (include/guichet/ussd_share.h). */
#include <string.h>
#include <osmocom/core/talloc.h>

#include "guichet/log.h"
#include "guichet/session.h"
#include "guichet/store.h"
#include "guichet/ussd_share.h"

char *ussd_share_extend(void *ctx, const char *history, const char *input, bool secret)
{
	const char mask[2] = { USSD_SHARE_MASK, '\0' };
	const char *add = secret ? mask : input ? input : "";

	if (!history || !*history)
		return talloc_strdup(ctx, add);
	return talloc_asprintf(ctx, "%s*%s", history, add);
}

const char *ussd_share_input(const char *history, const char *text)
{
	const char *h = history ? history : "", *t = text ? text : "";

	if (!*h)
		return *t ? t : NULL;	/* an empty text again: replayed */
	while (*h) {
		if (*h == USSD_SHARE_MASK) {
			if (!*t || *t == '*')
				return NULL;
			while (*t && *t != '*')
				t++;
			h++;
		} else if (*h++ != *t++) {
			return NULL;
		}
	}
	return *t == '*' ? t + 1 : NULL;
}

/* ---- one dialogue's shared state ---- */

static bool shared(const struct ussd_share *sh, struct store *st)
{
	return sh->expire_s && st && st->ops->ussd_put;
}

void ussd_share_begin(struct ussd_share *sh, void *ctx, struct store *st, unsigned expire_s,
		      const char *code, int64_t *swept)
{
	*sh = (struct ussd_share){ .expire_s = st && st->ops->ussd_put ? expire_s : 0,
				   .swept = swept };
	if (!sh->expire_s)
		return;
	sh->code = talloc_strdup(ctx, code ? code : "");
	sh->history = talloc_strdup(ctx, "");
	if (!sh->code || !sh->history)
		sh->expire_s = 0;	/* no memory: the dialogue stays on this host */
}

static void share_log(struct store *st, const char *what)
{
	glog(GLOG_USSD, LOGL_ERROR, &(struct log_fields){ .channel = "ussd" },
	     "USSD dialogue state %s: %s", what, store_last_error(st));
}

int ussd_share_resume(struct ussd_share *sh, void *owner, struct store *st, const char *id,
		      const char *via, const char *from, const char *code, const char *text,
		      int64_t now, struct session *s, const char **input)
{
	void *ctx = talloc_new(owner);
	struct store_ussd u;
	struct session row;
	const char *x;
	int rc = 1;

	if (!shared(sh, st) || !ctx) {
		talloc_free(ctx);
		return 1;
	}
	rc = st->ops->ussd_get(st, id, now, &u, ctx);
	if (rc < 0)
		share_log(st, "not read");
	if (rc != 0)
		goto out;
	rc = 1;
	if (strcmp(u.via, via ? via : "") || strcmp(u.from, from ? from : "") ||
	    strcmp(u.code, code ? code : "") || u.step < sh->step ||
	    !(x = ussd_share_input(u.history, text)))
		goto out;
	if (u.step > sh->step) {
		char *h = talloc_strdup(owner, u.history);

		if (!h || session_decode(&row, ctx, u.session, u.session_len) < 0)
			goto out;
		vars_clear(&s->vars);
		session_copy(s, owner, &row);
		talloc_free(sh->history);
		sh->history = h;
		sh->step = u.step;
	}
	*input = x;
	rc = 0;
out:
	talloc_free(ctx);
	return rc;
}

void ussd_share_answered(struct ussd_share *sh, void *ctx, const char *input, bool secret)
{
	if (!sh->expire_s)
		return;
	talloc_free(sh->next);
	sh->next = input ? ussd_share_extend(ctx, sh->history, input, secret)
			 : talloc_strdup(ctx, sh->history);
}

int ussd_share_screen(struct ussd_share *sh, void *ctx, struct store *st, const char *id,
		      const char *via, const char *from, const struct session *s, int64_t now)
{
	struct store_ussd u = {
		.id = id, .via = via, .from = from, .code = sh->code,
		.history = sh->next ? sh->next : sh->history, .step = sh->step + 1,
		.expires_at = now + sh->expire_s,
	};
	size_t len;
	char *blob;
	int rc;

	if (!shared(sh, st))
		return 0;
	/* session_encode leaves the secret answers out, as for a stored SMS session. */
	blob = session_encode(ctx, s, &len);
	if (!blob) {
		glog(GLOG_USSD, LOGL_ERROR, &(struct log_fields){ .channel = "ussd" },
		     "USSD dialogue state not shared: out of memory");
		return -1;
	}
	u.session = blob;
	u.session_len = len;
	rc = st->ops->ussd_put(st, &u, now);
	talloc_free(blob);
	if (rc < 0) {
		share_log(st, "not shared");
		return -1;
	}
	if (rc == 0) {
		sh->step++;
		if (sh->next) {
			talloc_free(sh->history);
			sh->history = sh->next;
			sh->next = NULL;
		}
	}
	/* Rows nobody ended (a host gone, an aggregator that stopped asking): at most once a
	 * minute per host. */
	if (sh->swept && now - *sh->swept >= 60) {
		*sh->swept = now;
		if (st->ops->ussd_sweep(st, now) < 0)
			share_log(st, "not swept");
	}
	return rc;
}

void ussd_share_end(struct ussd_share *sh, struct store *st, const char *id)
{
	if (shared(sh, st) && sh->step > 0 && st->ops->ussd_drop(st, id, sh->step) < 0)
		share_log(st, "not dropped");
}
