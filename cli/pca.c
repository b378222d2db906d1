/* pca.c -- `fruitstream pca` shows the PCA model the sink keeps in Redis: its version, n,
 * k, how k was chosen, and the explained variance of the first components. It reads the
 * model hash only, so it is cheap to run while the pipeline works. */
#include "cli/commands.h"
#include "cli/private_redis.h"
#include "common/keys.h"
#include "common/redis.h"
#include "pca/pca_model.h"

#include <stdio.h>
#include <stdlib.h>

static const char about[] =
    "Prints the sink's PCA model (" KEY_PCA_MODEL "): n, k, explained variance.";

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
    char err[512];
    pca_model_info_t *model = pca_model_info_new(redis, err, sizeof err);
    if (model) {
        printf("version: %llu\nn: %lld\nk: %d\n", (unsigned long long) model->version, model->n,
               model->k);
        printf("choice: %s\nstandardized: %s\n",
               model->variance_target > 0 ? "smallest k reaching the variance target" : "fixed k",
               model->standardize ? "yes" : "no");
        if (model->variance_target > 0)
            printf("variance target: %.6g\n", model->variance_target);
        printf("variance explained by k: %.6f\n", model->explained);
        double cumulative = 0;
        printf("component  ratio  cumulative\n");
        for (int i = 0; i < model->k && i < 10; i++) {
            cumulative += model->ratios[i];
            printf("%9d  %.12f  %.12f\n", i + 1, model->ratios[i], cumulative);
        }
    } else {
        fprintf(stderr, "fruitstream pca: %s\n", err);
    }
    int status = model ? 0 : 1;
    pca_model_info_destroy(&model);
    redis_destroy(&redis);
    private_redis_destroy(&server);
    return status;
}
