/* libibverbs / librdmacm declarations for the verbs transport. Nothing here is linked: the
 * provider loads both libraries with dlopen at run time (Sources/SanWSP/System/VerbsLibrary),
 * so a machine without rdma-core still loads libsanwsp.so and simply runs the soft transport.
 * The data-path verbs (ibv_post_send, ibv_post_recv, ibv_poll_cq, ibv_req_notify_cq) are static
 * inline in verbs.h and call through the device context, so they need no symbol either. */
#ifndef SANWSP_CVERBS_SHIM_H
#define SANWSP_CVERBS_SHIM_H
#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

/* Field access Swift cannot spell through the anonymous unions of ibv_send_wr. */
static inline void sanwsp_wr_set_rdma(struct ibv_send_wr *wr, uint64_t remote_addr, uint32_t rkey) {
    wr->wr.rdma.remote_addr = remote_addr;
    wr->wr.rdma.rkey = rkey;
}
#endif
