/* fuzz_wire.c -- the wire decoder (common/wire.c) on any bytes. A frame that decodes must
 * encode again and decode to the same message type: the two directions of one field table
 * agree on everything the decoder lets through. */
#include "common/wire.h"
#include "tests/fuzz/fuzz.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static wire_msg_t msg, again;
    char err[256];
    if (wire_decode(data, size, &msg, err, sizeof err) != 0)
        return 0;
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    switch (msg.type) {
    case WIRE_TASK: wire_encode_task(&buf, &msg.task); break;
    case WIRE_RESULT: wire_encode_result(&buf, &msg.result); break;
    case WIRE_HEARTBEAT: wire_encode_heartbeat(&buf, &msg.heartbeat); break;
    }
    if (wire_decode(buf.data, buf.size, &again, err, sizeof err) != 0 || again.type != msg.type)
        abort();
    msgpack_sbuffer_destroy(&buf);
    return 0;
}
