/* The sinks: what transports are given instead of the router itself (router.h), each
 * function a forward to the router's entry point, so transports can be tested against a
 * stub. */
#include <osmocom/core/talloc.h>

#include "guichet/router_run.h"
#include "guichet/ussd_dialogue.h"

static int sink_received(void *data, const struct sms_in *msgs, unsigned n)
{
	return router_sms_received(data, msgs, n);
}

static int sink_received_later(void *data, const struct sms_in *msgs, unsigned n,
			       sms_stored_fn stored, void *sdata)
{
	return router_sms_receive_later(data, msgs, n, stored, sdata);
}

static void sink_received_cancel(void *data, void *sdata)
{
	router_sms_receive_cancel(data, sdata);
}

static void sink_sent(void *data, int64_t id)
{
	router_sms_sent(data, id);
}

static void sink_failed(void *data, int64_t id, bool permanent, const char *why)
{
	router_sms_failed(data, id, permanent, why);
}

static void sink_ready(void *data, struct sms_transport *t)
{
	router_sms_ready(data, t);
}

static void sink_registered(void *data, struct sms_transport *t)
{
	router_sms_register(data, t);
}

static void sink_unregistered(void *data, struct sms_transport *t)
{
	router_sms_unregister(data, t);
}

static void sink_remote_id(void *data, int64_t id, const char *via, const char *remote)
{
	router_sms_remote_id(data, id, via, remote);
}

static void sink_receipt(void *data, int64_t id, const char *via, const char *remote,
			 bool delivered, const char *stat)
{
	router_sms_receipt(data, id, via, remote, delivered, stat);
}

static int sink_receipt_later(void *data, int64_t id, const char *via, const char *remote,
			      bool delivered, const char *stat, sms_stored_fn stored, void *sdata)
{
	return router_sms_receipt_later(data, id, via, remote, delivered, stat, stored, sdata);
}

struct sms_sink router_sms_sink(struct router *r)
{
	return (struct sms_sink){ .received = sink_received, .sent = sink_sent,
				  .failed = sink_failed, .ready = sink_ready,
				  .registered = sink_registered,
				  .unregistered = sink_unregistered,
				  .remote_id = sink_remote_id, .receipt = sink_receipt,
				  .received_later = sink_received_later,
				  .received_cancel = sink_received_cancel,
				  .receipt_later = sink_receipt_later, .data = r };
}

static void sink_ussd_request(void *data, const struct ussd_req *req, ussd_reply_fn reply,
			      void *rdata)
{
	router_ussd_request(data, req, reply, rdata);
}

static void sink_ussd_abort(void *data, const char *dialogue)
{
	router_ussd_abort(data, dialogue);
}

static const char *sink_ussd_text(void *data, enum ussd_text which)
{
	struct router *r = data;

	if (!r->flows)
		return NULL;
	const struct flow_messages *m = &r->flows->msg;
	const struct flow_text *t = which == USSD_TEXT_EXPIRED ? &m->expired
				  : which == USSD_TEXT_INVALID ? &m->invalid_session
				  : which == USSD_TEXT_SATURATED ? &m->saturated
				  : &m->backend_error;
	void *ctx = talloc_new(r);
	const char *text = engine_message(ctx, r->flows, t, "fr", &r->cfg.ussd);
	talloc_free(r->ussd_text);
	r->ussd_text = text ? talloc_strdup(r, text) : NULL;
	talloc_free(ctx);
	return r->ussd_text;
}

struct ussd_sink router_ussd_sink(struct router *r)
{
	return (struct ussd_sink){ .request = sink_ussd_request, .abort = sink_ussd_abort,
				   .text = sink_ussd_text, .data = r,
				   .table = ussd_dialogues_table(r->dlg),
				   .shares = r->st && r->st->ops->ussd_put };
}

const char *ussd_sink_text(const struct ussd_sink *sink, enum ussd_text which)
{
	static const char *const builtin[] = {
		[USSD_TEXT_EXPIRED] = "Session expirée.",
		[USSD_TEXT_INVALID] = "Session invalide.",
		[USSD_TEXT_UNAVAILABLE] = "Service interrompu.",
		[USSD_TEXT_SATURATED] = "Service saturé. Merci de rappeler dans quelques minutes.",
	};
	const char *t = sink && sink->text ? sink->text(sink->data, which) : NULL;

	return t ? t : builtin[which];
}
