/* netcfg.c: see netcfg.h. */
#include "common/netcfg.h"

zr_zsock_opts zr_netcfg_zsock(const zr_config *c) {
  zr_zsock_opts z = zr_zsock_opts_default();
  z.max_msg_bytes = c->net.max_msg_size;
  z.sndhwm = (int)c->net.sndhwm;
  z.rcvhwm = (int)c->net.rcvhwm;
  z.linger_ms = (int)c->net.linger_ms;
  z.reconnect_ivl_ms = (int)c->net.reconnect_ivl_ms;
  z.reconnect_ivl_max_ms = (int)c->net.reconnect_ivl_max_ms;
  return z;
}

void zr_netcfg_redis(zr_redis_opts *r, const zr_config *c, const char *client_name) {
  zr_redis_opts_init(r);
  r->host = c->redis.host;
  r->port = (int)c->redis.port;
  r->unix_path = c->redis.socket[0] ? c->redis.socket : NULL;
  r->user = c->redis.user[0] ? c->redis.user : NULL;
  r->password = c->redis.password[0] ? c->redis.password : NULL;
  r->db = (int)c->redis.db;
  r->client_name = client_name;
  r->connect_timeout_ms = (uint32_t)c->redis.connect_timeout_ms;
  r->command_timeout_ms = (uint32_t)c->redis.command_timeout_ms;
  r->backoff_min_ms = (uint32_t)c->redis.backoff_min_ms;
  r->backoff_max_ms = (uint32_t)c->redis.backoff_max_ms;
}
