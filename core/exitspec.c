/* Our exit spec table (OpenPAI's fields, our outcomes) and the words the
 * batch script and the node's image cache use for why a task failed. */
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include "exitspec.h"

/* Codes are OpenPAI's where the meaning is the same (0, -210, -1001, ...),
 * so that a client's table of them keeps working; the others are ours, in
 * OpenPAI's ranges for the same issuer. */
static const pai_exit_spec exit_succeeded = {
    0, "Succeeded", "USER_CONTAINER", "USER_CONTAINER", "USER_SUCCESS", "COMPLETING",
    "UNKNOWN", "NEVER_RETRY", "Every task the job needed ended with exit code 0",
    "A command that exits 0"};
static const pai_exit_spec exit_stopped = {
    -210, "StopFrameworkRequested", "PAI_FC", "USER_STOP", "USER_STOP", "UNKNOWN",
    "PERMANENT", "NEVER_RETRY", "The job's owner or an admin stopped it (executionType STOP)",
    "PUT /api/v2/jobs/{user}~{job}/executionType {\"value\": \"STOP\"}"};
static const pai_exit_spec exit_cancelled = {
    -240, "JobCancelledOutside", "PAI_OS", "USER_UNKNOWN", "USER_STOP", "UNKNOWN",
    "PERMANENT", "NEVER_RETRY", "Slurm cancelled the job without a STOP from this server "
    "(scancel by its account or an admin)", "scancel the job's Slurm id"};
/* A task the completion rule ended (TERM) once enough of its job's tasks had
 * succeeded or failed: it did not fail on its own. */
static const pai_exit_spec exit_ended = {
    -220, "FrameworkAttemptCompletion", "PAI_FC", "USER_STOP", "USER_STOP", "COMPLETING",
    "PERMANENT", "NEVER_RETRY", "The job's completion rule ended the task: enough of the job's "
    "tasks had succeeded (minSucceededTaskCount) or failed (minFailedTaskCount)",
    "A task that runs on after another task of its job failed"};
static const pai_exit_spec exit_node_lost = {
    -1001, "NodeFailed", "PAI_OS", "PAI_HW", "PLATFORM_FAILURE", "RUNNING", "TRANSIENT",
    "ALWAYS_RETRY", "A node of the job failed or stopped answering Slurm (NODE_FAIL)",
    "Power off a node that runs one of the job's tasks"};
static const pai_exit_spec exit_never_started = {
    -120, "TaskNeverStarted", "PAI_RUNTIME", "PAI_UNKNOWN", "PLATFORM_FAILURE", "LAUNCHING",
    "TRANSIENT", "ALWAYS_RETRY", "Slurm could not start a task's step on its node in time",
    "Stop slurmctld while the job's tasks start"};
static const pai_exit_spec exit_lost = {
    -101, "JobLost", "PAI_FC", "PAI_UNKNOWN", "PLATFORM_FAILURE", "UNKNOWN", "TRANSIENT",
    "ALWAYS_RETRY", "Slurm no longer knows the job, and its end was never seen",
    "Remove the job from Slurm's state while this server is down"};
static const pai_exit_spec exit_boot_failed = {
    -1006, "NodeBootFailed", "PAI_OS", "PAI_HW", "PLATFORM_FAILURE", "ALLOCATING", "TRANSIENT",
    "ALWAYS_RETRY", "Slurm could not boot or prepare a node for the job (BOOT_FAIL)",
    "A node whose boot fails"};
static const pai_exit_spec exit_preempted = {
    -1003, "JobPreempted", "PAI_OS", "PAI_UNKNOWN", "PLATFORM_FAILURE", "RUNNING", "TRANSIENT",
    "ALWAYS_RETRY", "Slurm preempted the job for another", "A preemption rule of the partition"};
static const pai_exit_spec exit_container = {
    -1201, "ContainerCreationError", "PAI_DOCKER", "PAI_DOCKER", "PLATFORM_FAILURE", "LAUNCHING",
    "TRANSIENT", "ALWAYS_RETRY", "The node had not prepared the task's image, or its container "
    "runtime could not start", "A node whose Slurm runs without mod_pairest's prolog"};
/* A registry that cannot be reached or an image that will not unpack may
 * be the job's (a wrong address, a broken image) as well as the site's:
 * retried only as retryCount says. */
static const pai_exit_spec exit_image_pull = {
    -1204, "ContainerImagePullFailed", "PAI_DOCKER", "UNKNOWN", "UNKNOWN_FAILURE", "LAUNCHING",
    "UNKNOWN", "RETRY_TO_MAX", "The node could not fetch or unpack the task's image",
    "An image on a registry that cannot be reached from the nodes"};
static const pai_exit_spec exit_folder = {
    -1005, "JobFolderRefused", "PAI_RUNTIME", "PAI_OS", "PLATFORM_FAILURE", "LAUNCHING",
    "PERMANENT", "NEVER_RETRY", "The job's folder under PaiJobLogDir is missing or not the "
    "account's own (mode 0700, made by Slurm's prolog); no task ran",
    "A node whose Slurm has no mod_pairest prolog"};
static const pai_exit_spec exit_image_missing = {
    254, "ContainerImageNotExists", "PAI_DOCKER", "USER_SUBMISSION", "USER_FAILURE",
    "LAUNCHING", "PERMANENT", "RETRY_TO_MAX", "The registry has no such image or tag",
    "Submit a job whose image is a tag that does not exist"};
static const pai_exit_spec exit_image_auth = {
    -200, "ContainerImageAuthFailed", "PAI_DOCKER", "USER_SUBMISSION", "USER_FAILURE",
    "LAUNCHING", "PERMANENT", "RETRY_TO_MAX", "The registry refused the job's credentials, "
    "or the job's authFile could not be read", "A private image without an authFile"};
static const pai_exit_spec exit_refused = {
    -1100, "CreateFrameworkPermanentFailed", "PAI_FC", "USER_SUBMISSION", "USER_FAILURE",
    "SUBMITTING", "PERMANENT", "NEVER_RETRY", "The job can never run here (its demand, its "
    "VC or its account); it was refused", "A job asking for more GPUs than any node has"};
static const pai_exit_spec exit_timeout = {
    -1004, "JobTimeLimitExceeded", "PAI_OS", "USER_SUBMISSION", "USER_FAILURE", "RUNNING",
    "PERMANENT", "RETRY_TO_MAX", "The job ran past its time limit (Slurm's TIMEOUT or "
    "DEADLINE)", "A command that runs longer than the partition's time limit"};
static const pai_exit_spec exit_oom = {
    -1200, "UserContainerOOMKilled", "PAI_OS", "USER_CONTAINER", "USER_FAILURE", "RUNNING",
    "PERMANENT", "RETRY_TO_MAX", "A task used more memory than its memoryMB; the kernel "
    "killed it", "python3 -c 'a = bytearray(10**10)' in a task of memoryMB 100"};
static const pai_exit_spec exit_user_failed = {
    1, "UserCommandExitWithError", "USER_CONTAINER", "USER_CONTAINER", "USER_FAILURE",
    "RUNNING", "UNKNOWN", "RETRY_TO_MAX", "A task's command exited with a non-zero code",
    "exit 1"};
static const pai_exit_spec exit_unknown = {
    255, "UnknownFailure", "PAI_RUNTIME", "UNKNOWN", "UNKNOWN_FAILURE", "UNKNOWN", "UNKNOWN",
    "RETRY_TO_MAX", "The job failed and neither Slurm nor its tasks said why",
    "None known"};

/* A plain non-zero exit keeps OpenPAI's phrase for its signal (128 + n). */
static const struct { int code; const char *phrase; } exit_signals[] = {
    {129, "ContainerSigHupReceived"}, {130, "ContainerSigIntReceived"},
    {131, "ContainerSigQuitReceived"}, {132, "ContainerSigIllReceived"},
    {134, "ContainerSigAbrtReceived"}, {135, "ContainerSigBusReceived"},
    {136, "ContainerSigFpeReceived"}, {137, "ContainerSigKillReceived"},
    {139, "ContainerSigSegvReceived"}, {141, "ContainerSigPipeReceived"},
    {143, "ContainerSigTermReceived"},
};

static int exit_is(const char *a, const char *b)
{
    return a && !strcmp(a, b);
}

const pai_exit_spec *pai_exit_classify(const char *state, const char *sub_state,
                                       int has_exit, int exit_code, const char *why,
                                       int stop_requested)
{
    if (exit_is(state, "SUCCEEDED"))
        return &exit_succeeded;
    if (exit_is(state, "STOPPED"))
        return exit_is(why, "ended") ? &exit_ended : stop_requested ? &exit_stopped
                                                                    : &exit_cancelled;
    if (!exit_is(state, "FAILED") && !exit_is(state, "UNKNOWN"))
        return NULL;
    /* Slurm's word on the whole job first: a lost node ends every task. */
    if (exit_is(sub_state, "NODE_FAIL")) return &exit_node_lost;
    if (exit_is(sub_state, "BOOT_FAIL")) return &exit_boot_failed;
    if (exit_is(sub_state, "PREEMPTED")) return &exit_preempted;
    if (exit_is(sub_state, "LOST")) return &exit_lost;
    if (exit_is(sub_state, "REFUSED")) return &exit_refused;
    if (exit_is(sub_state, "TIMEOUT") || exit_is(sub_state, "DEADLINE")) return &exit_timeout;
    if (exit_is(sub_state, "OUT_OF_MEMORY")) return &exit_oom;
    /* Then the batch script's on its first failing task. */
    if (why && *why) {
        if (!strcmp(why, "oom")) return &exit_oom;
        if (!strcmp(why, "nostart")) return &exit_never_started;
        if (!strcmp(why, "folder")) return &exit_folder;
        if (!strcmp(why, "image-notfound")) return &exit_image_missing;
        if (!strcmp(why, "image-auth") || !strcmp(why, "image-authfile")) return &exit_image_auth;
        if (!strcmp(why, "image-missing") || !strcmp(why, "runtime")) return &exit_container;
        if (!strncmp(why, "image-", 6)) return &exit_image_pull;
    }
    if (has_exit && exit_code != 0)
        return &exit_user_failed;
    return &exit_unknown;
}

int pai_exit_platform_transient(const pai_exit_spec *s)
{
    return s && !strcmp(s->reaction, "ALWAYS_RETRY");
}

json_t *pai_exit_spec_json(const pai_exit_spec *s, int exit_code)
{
    const char *phrase;
    int code;
    size_t i;

    if (!s)
        return json_null();
    code = s->code;
    phrase = s->phrase;
    if (s == &exit_user_failed) {
        code = exit_code;
        for (i = 0; i < sizeof(exit_signals) / sizeof(exit_signals[0]); i++)
            if (exit_signals[i].code == exit_code)
                phrase = exit_signals[i].phrase;
    }
    return json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:[s]}", "code", code,
                     "phrase", phrase, "issuer", s->issuer, "causer", s->causer, "type", s->type,
                     "stage", s->stage, "behavior", s->behavior, "reaction", s->reaction,
                     "reason", s->reason, "repro", s->repro);
}

const char *pai_exit_why_text(apr_pool_t *p, const char *why, const char *image)
{
    /* What the node's image cache said (scripts/job/image.sh). */
    static const struct { const char *why, *text; } words[] = {
        {"image-notfound", "the registry has no such image or tag"},
        {"image-auth", "the registry refused the credentials (or needs some: see authFile)"},
        {"image-authfile", "the job's authFile cannot be read by the job's account, or holds "
                           "no registry credentials (OpenPAI's three lines or an auth.json)"},
        {"image-unreachable", "the registry cannot be reached from the node"},
        {"image-pull", "pulling it failed"},
        {"image-unpack", "it could not be unpacked on the node"},
        {"image-missing", "the node did not prepare it (is mod_pairest's prolog Slurm's "
                          "Prolog there?)"},
        {"runtime", "the container runtime could not start on the node"},
    };
    apr_size_t i;

    if (!why || !*why)
        return "";
    if (!strcmp(why, "oom"))
        return "ran out of memory (killed past its memoryMB)";
    if (!strcmp(why, "nostart"))
        return "never started (Slurm could not start its step)";
    if (!strcmp(why, "ended"))
        return "ended by the job's completion rule (enough of its tasks had succeeded or failed)";
    if (!strncmp(why, "image-", 6) || !strcmp(why, "runtime")) {
        const char *text = "pulling it failed";
        for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
            if (!strcmp(why, words[i].why))
                text = words[i].text;
        return apr_psprintf(p, "could not start: image %s: %s", image ? image : "?", text);
    }
    if (!strncmp(why, "exit", 4) && why[4])
        return apr_psprintf(p, "exited with code %d", atoi(why + 4));
    return apr_psprintf(p, "failed (%s)", why);
}
