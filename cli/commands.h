/* commands.h -- the subcommands of the `fruitstream` front command. Each takes the
 * arguments after the program name (argv[0] is the subcommand) and returns the exit
 * status. */
#ifndef FS_COMMANDS_H
#define FS_COMMANDS_H

int cmd_run(int argc, char **argv);       /* cli/run.c: the whole pipeline on one machine */
int cmd_featurize(int argc, char **argv); /* cli/featurize.c: features of JPEG files */
int cmd_upload(int argc, char **argv);    /* cli/upload.c: add images to the upload stream */
int cmd_export(int argc, char **argv);    /* cli/export.c: CSV of projections / features */
int cmd_pca(int argc, char **argv);       /* cli/pca.c:   : the PCA model's state */
int cmd_status(int argc, char **argv);    /* cli/status.c: counters and live workers */
int cmd_query(int argc, char **argv);     /* cli/query.c: nearest stored images of JPEGs */
int cmd_report(int argc, char **argv);    /* cli/report.c: self-contained HTML report */
int cmd_keys(int argc, char **argv);      /* cli/keys.c: CURVE certificates for --keys */
int cmd_serve(int argc, char **argv);     /* cli/serve.c: the pipeline as a live service */

#endif
