/* pca.c -- `fruitstream pca` shows the PCA model the sink keeps in Redis: its version, n,
 * k, how k was chosen, and the explained variance of the first components. It reads the
 * model hash only, so it is cheap to run while the pipeline works. */
#include "cli/commands.h"
#include "cli/private_redis.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/redis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char about[] =
    "Prints the sink's PCA model (" KEY_PCA_MODEL "): n, k, explained variance.";

static double *doubles(redisReply *r, size_t *count)
{
    *count = r && r->type == REDIS_REPLY_STRING ? r->len / sizeof(double) : 0;
    return *count ? (double *) r->str : NULL;
}

int cmd_pca(int argc, char **argv)
{
    const char *url = NULL, *data_dir = NULL;
    const option_t options[] = {PRIVATE_REDIS_OPTIONS(&url, &data_dir), OPTION_END};
    const options_spec_t spec = {"fruitstream pca", .about = about, .options = options};
    options_parse(&spec, argc, argv);
    private_redis_t *server;
    redis_t *redis = private_redis_connect(url, data_dir, &server);
    if (!redis)
        return 1;
    redisReply *r = redisCommand(redis->ctx,
                                 "HMGET %s version n k variance_target standardize explained "
                                 "ratios",
                                 KEY_PCA_MODEL);
    int status = 0;
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        log_error("cannot read %s: %s", KEY_PCA_MODEL, r ? r->str : redis->ctx->errstr);
        status = 1;
    } else if (!r->element[0]->str) {
        fprintf(stderr, "fruitstream pca: no model in %s yet\n", KEY_PCA_MODEL);
        status = 1;
    } else {
        redisReply **f = r->element;
        printf("version: %s\nn: %s\nk: %s\n", f[0]->str, f[1]->str, f[2]->str);
        printf("choice: %s\nstandardized: %s\n",
               atof(f[3]->str) > 0 ? "smallest k reaching the variance target" : "fixed k",
               atoi(f[4]->str) ? "yes" : "no");
        if (atof(f[3]->str) > 0)
            printf("variance target: %s\n", f[3]->str);
        printf("variance explained by k: %.6f\n", atof(f[5]->str));
        size_t count;
        const double *ratios = doubles(f[6], &count);
        double cumulative = 0;
        printf("component  ratio  cumulative\n");
        for (size_t i = 0; i < count && i < 10; i++) {
            cumulative += ratios[i];
            printf("%9zu  %.12f  %.12f\n", i + 1, ratios[i], cumulative);
        }
    }
    freeReplyObject(r);
    redis_destroy(&redis);
    private_redis_destroy(&server);
    return status;
}
