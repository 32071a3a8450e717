/* netcfg.h: the socket and Redis options every daemon derives from its job config.
 *
 * The learner, the actors and the reward workers all turn [net] into ZeroMQ socket options and
 * [redis] into Redis client options the same way; this module is that one mapping. Strings in
 * the results point into the config, which must outlive them. */
#ifndef ZR_NETCFG_H
#define ZR_NETCFG_H

#include "common/config.h"
#include "common/redis.h"
#include "common/zsock.h"

/* [net] socket options (HWMs, linger, reconnect intervals, max message size); no CURVE keys. */
zr_zsock_opts zr_netcfg_zsock(const zr_config *c);

/* [redis] client options (host/port or unix socket, ACL user and password, db, timeouts,
 * back-off), with client_name shown in CLIENT LIST. */
void zr_netcfg_redis(zr_redis_opts *r, const zr_config *c, const char *client_name);

#endif
