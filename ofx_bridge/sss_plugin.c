/*
 * SemanticSoftSegmentation: an OpenFX image effect that shows the soft layers of
 * Semantic Soft Segmentation (sss_vfx). It holds no numerics: it maps its parameters
 * to a request, hands the clip's frames to the per-user `sss-vfx serve` process by
 * files in a private spool folder on disk, and copies the frame the server returns
 * into the host's image. The host never loads Python, numpy or torch, and a crash of
 * the server fails a render, never the host.
 *
 * The layers of a frame depend on every frame of the clip, at full resolution: the
 * effect asks for whole input frames (regions of interest, frames needed, no input
 * tiles), checks the bounds it gets, and renders only at render scale 1.
 *
 * Frames on the wire: float32 RGBA of the source's region of definition, rows packed
 * bottom to top as OFX stores them.
 */
#define _GNU_SOURCE
#include "ofx_api.h"
#include "sss_client.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PLUGIN_ID "org.sss_vfx.SemanticSoftSegmentation"
#define PLUGIN_LABEL "SemanticSoftSegmentation"
#define PLUGIN_GROUP "sss_vfx"
#define GUIDES_CLIP "Guides"
#define MAX_LAYERS 16
#define DEFAULT_LAYERS 5
/* The CLI's default working-resolution cap (sss_vfx.options.DEFAULT_MAX_PIXELS). */
#define DEFAULT_MAX_PIXELS 65536
#define MAX_FRAMES 100000
#define MAX_NEED_ROUNDS 3

static OfxHost *g_host;
static const OfxPropertySuiteV1 *g_prop;
static const OfxImageEffectSuiteV1 *g_effect;
static const OfxParameterSuiteV1 *g_param;
static const OfxMessageSuiteV2 *g_message;
static int g_message_version;
static const OfxProgressSuiteV1 *g_progress;

static void set_host(OfxHost *host) { g_host = host; }

/* ---------------------------------------------------------------- instance data */

/* What an instance keeps between actions (kOfxPropInstanceData); render threads share
 * it under `lock`. */
typedef struct {
    pthread_mutex_t lock;
    int sequences;        /* begun sequence renders not yet ended */
    long first, last;     /* the clip range the kept hashes cover */
    int width, height;
    char (*hashes)[17];   /* kept from the first render of a sequence to its end */
    int progress_busy;    /* one render of this instance owns the progress bar */
    int error_shown;      /* a persistent message is up */
} Instance;

static Instance *instance_of(OfxImageEffectHandle effect)
{
    OfxPropertySetHandle props;
    void *data = NULL;
    if (g_effect->getPropertySet(effect, &props) != kOfxStatOK ||
        g_prop->propGetPointer(props, kOfxPropInstanceData, 0, &data) != kOfxStatOK)
        return NULL;
    return data;
}

static OfxStatus create_instance(OfxImageEffectHandle effect)
{
    OfxPropertySetHandle props;
    Instance *instance = calloc(1, sizeof *instance);
    if (!instance)
        return kOfxStatErrMemory;
    pthread_mutex_init(&instance->lock, NULL);
    if (g_effect->getPropertySet(effect, &props) != kOfxStatOK ||
        g_prop->propSetPointer(props, kOfxPropInstanceData, 0, instance) != kOfxStatOK) {
        pthread_mutex_destroy(&instance->lock);
        free(instance);
        return kOfxStatFailed;
    }
    return kOfxStatOK;
}

static void forget_hashes(Instance *instance)
{
    free(instance->hashes);
    instance->hashes = NULL;
}

static OfxStatus destroy_instance(OfxImageEffectHandle effect)
{
    OfxPropertySetHandle props;
    Instance *instance = instance_of(effect);
    if (!instance)
        return kOfxStatOK;
    forget_hashes(instance);
    pthread_mutex_destroy(&instance->lock);
    free(instance);
    if (g_effect->getPropertySet(effect, &props) == kOfxStatOK)
        g_prop->propSetPointer(props, kOfxPropInstanceData, 0, NULL);
    return kOfxStatOK;
}

static OfxStatus sequence(OfxImageEffectHandle effect, int begin)
{
    Instance *instance = instance_of(effect);
    if (!instance)
        return kOfxStatOK;
    pthread_mutex_lock(&instance->lock);
    if (begin) {
        instance->sequences++;
    } else if (instance->sequences > 0 && --instance->sequences == 0) {
        forget_hashes(instance); /* outside a sequence the clip may change any time */
    }
    pthread_mutex_unlock(&instance->lock);
    return kOfxStatOK;
}

/* ---------------------------------------------------------------- messages */

/* Errors go to the instance's persistent message: render threads must not open the
 * host's modal message() dialog. */
static void post_error(OfxImageEffectHandle effect, const char *text)
{
    Instance *instance = instance_of(effect);
    fprintf(stderr, "SemanticSoftSegmentation: %s\n", text);
    if (g_message && g_message_version >= 2 && g_message->setPersistentMessage) {
        g_message->setPersistentMessage(effect, kOfxMessageError, "", "%s", text);
        if (instance) {
            pthread_mutex_lock(&instance->lock);
            instance->error_shown = 1;
            pthread_mutex_unlock(&instance->lock);
        }
    }
}

static void clear_error(OfxImageEffectHandle effect)
{
    Instance *instance = instance_of(effect);
    int shown = 0;
    if (!instance)
        return;
    pthread_mutex_lock(&instance->lock);
    shown = instance->error_shown;
    instance->error_shown = 0;
    pthread_mutex_unlock(&instance->lock);
    if (shown && g_message && g_message_version >= 2 && g_message->clearPersistentMessage)
        g_message->clearPersistentMessage(effect);
}

/* ---------------------------------------------------------------- describe */

static OfxStatus on_load(void)
{
    if (!g_host)
        return kOfxStatErrMissingHostFeature;
    g_prop = g_host->fetchSuite(g_host->host, kOfxPropertySuite, 1);
    g_effect = g_host->fetchSuite(g_host->host, kOfxImageEffectSuite, 1);
    g_param = g_host->fetchSuite(g_host->host, kOfxParameterSuite, 1);
    g_message = g_host->fetchSuite(g_host->host, kOfxMessageSuite, 2);
    g_message_version = g_message ? 2 : 0;
    if (!g_message) {
        g_message = g_host->fetchSuite(g_host->host, kOfxMessageSuite, 1);
        g_message_version = g_message ? 1 : 0;
    }
    g_progress = g_host->fetchSuite(g_host->host, kOfxProgressSuite, 1);
    if (!g_prop || !g_effect || !g_param)
        return kOfxStatErrMissingHostFeature;
    return kOfxStatOK;
}

static OfxStatus describe(OfxImageEffectHandle descriptor)
{
    OfxPropertySetHandle props;
    if (g_effect->getPropertySet(descriptor, &props) != kOfxStatOK)
        return kOfxStatErrBadHandle;
    g_prop->propSetString(props, kOfxPropLabel, 0, PLUGIN_LABEL);
    g_prop->propSetString(props, kOfxPropShortLabel, 0, "SoftSegments");
    g_prop->propSetString(props, kOfxPropLongLabel, 0, PLUGIN_LABEL);
    g_prop->propSetString(props, kOfxPropPluginDescription, 0,
                          "Soft layers by Semantic Soft Segmentation (sss_vfx), computed "
                          "for the whole clip by a local sss-vfx serve process.");
    g_prop->propSetString(props, kOfxImageEffectPluginPropGrouping, 0, PLUGIN_GROUP);
    g_prop->propSetString(props, kOfxImageEffectPropSupportedContexts, 0,
                          kOfxImageEffectContextFilter);
    g_prop->propSetString(props, kOfxImageEffectPropSupportedContexts, 1,
                          kOfxImageEffectContextGeneral);
    g_prop->propSetString(props, kOfxImageEffectPropSupportedPixelDepths, 0,
                          kOfxBitDepthFloat);
    /* Inputs of any size and offset (EXR data windows, an upstream crop). */
    g_prop->propSetInt(props, kOfxImageEffectPropSupportsMultiResolution, 0, 1);
    g_prop->propSetInt(props, kOfxImageEffectPropSupportsTiles, 0, 1);
    g_prop->propSetInt(props, kOfxImageEffectPropTemporalClipAccess, 0, 1);
    g_prop->propSetInt(props, kOfxImageEffectPropSupportsMultipleClipDepths, 0, 0);
    g_prop->propSetInt(props, kOfxImageEffectPluginPropSingleInstance, 0, 0);
    g_prop->propSetInt(props, kOfxImageEffectPluginPropHostFrameThreading, 0, 0);
    /* No parameter animates, so fielded footage renders once per frame. */
    g_prop->propSetInt(props, kOfxImageEffectPluginPropFieldRenderTwiceAlways, 0, 0);
    g_prop->propSetString(props, kOfxImageEffectPropClipPreferencesSlaveParam, 0,
                          "outputLayer");
    g_prop->propSetString(props, kOfxImageEffectPluginRenderThreadSafety, 0,
                          kOfxImageEffectRenderFullySafe);
    g_prop->propSetString(props, kOfxImageEffectPropColourManagementStyle, 0,
                          kOfxImageEffectPropColourManagementCore);
    return kOfxStatOK;
}

static OfxStatus define_clip(OfxImageEffectHandle descriptor, const char *name,
                             int optional)
{
    OfxPropertySetHandle props;
    int output = strcmp(name, kOfxImageEffectOutputClipName) == 0;
    if (g_effect->clipDefine(descriptor, name, &props) != kOfxStatOK)
        return kOfxStatFailed;
    g_prop->propSetString(props, kOfxImageEffectPropSupportedComponents, 0,
                          kOfxImageComponentRGBA);
    g_prop->propSetInt(props, kOfxImageEffectPropTemporalClipAccess, 0, !output);
    /* Inputs whole (the layers of any pixel depend on the whole frame); the output may
     * be rendered in tiles. */
    g_prop->propSetInt(props, kOfxImageEffectPropSupportsTiles, 0, output);
    if (!output)
        g_prop->propSetString(props, kOfxImageClipPropFieldExtraction, 0,
                              kOfxImageFieldBoth);
    if (optional)
        g_prop->propSetInt(props, kOfxImageClipPropOptional, 0, 1);
    return kOfxStatOK;
}

static OfxPropertySetHandle define_param(OfxParamSetHandle params, const char *type,
                                         const char *name, const char *label,
                                         const char *hint)
{
    OfxPropertySetHandle props = NULL;
    if (g_param->paramDefine(params, type, name, &props) != kOfxStatOK || !props)
        return NULL;
    g_prop->propSetString(props, kOfxPropLabel, 0, label);
    g_prop->propSetString(props, kOfxParamPropScriptName, 0, name);
    g_prop->propSetString(props, kOfxParamPropHint, 0, hint);
    g_prop->propSetInt(props, kOfxParamPropAnimates, 0, 0);
    return props;
}

static void int_range(OfxPropertySetHandle props, int value, int low, int high)
{
    g_prop->propSetInt(props, kOfxParamPropDefault, 0, value);
    g_prop->propSetInt(props, kOfxParamPropMin, 0, low);
    g_prop->propSetInt(props, kOfxParamPropMax, 0, high);
    g_prop->propSetInt(props, kOfxParamPropDisplayMin, 0, low);
    g_prop->propSetInt(props, kOfxParamPropDisplayMax, 0, high);
}

static OfxStatus describe_in_context(OfxImageEffectHandle descriptor,
                                     OfxPropertySetHandle in_args)
{
    char *context = NULL;
    OfxParamSetHandle params;
    OfxPropertySetHandle p;
    g_prop->propGetString(in_args, kOfxImageEffectPropContext, 0, &context);
    if (define_clip(descriptor, kOfxImageEffectSimpleSourceClipName, 0) != kOfxStatOK ||
        define_clip(descriptor, kOfxImageEffectOutputClipName, 0) != kOfxStatOK)
        return kOfxStatFailed;
    if (context && strcmp(context, kOfxImageEffectContextGeneral) == 0 &&
        define_clip(descriptor, GUIDES_CLIP, 1) != kOfxStatOK)
        return kOfxStatFailed;
    if (g_effect->getParamSet(descriptor, &params) != kOfxStatOK)
        return kOfxStatFailed;
    p = define_param(params, kOfxParamTypeInteger, "layers", "Layers",
                     "Soft layers for the whole clip (after grouping)");
    if (!p)
        return kOfxStatFailed;
    int_range(p, DEFAULT_LAYERS, 1, MAX_LAYERS);
    p = define_param(params, kOfxParamTypeInteger, "outputLayer", "Output layer",
                     "0 = colour-coded preview of all layers; k = layer k as "
                     "premultiplied RGBA (its colour in RGB, its matte in A)");
    if (!p)
        return kOfxStatFailed;
    int_range(p, 0, 0, MAX_LAYERS);
    p = define_param(params, kOfxParamTypeBoolean, "temporal", "Temporal",
                     "Link frames in time (on) or segment each frame alone (off)");
    if (!p)
        return kOfxStatFailed;
    g_prop->propSetInt(p, kOfxParamPropDefault, 0, 1);
    p = define_param(params, kOfxParamTypeBoolean, "linearInput", "Scene-linear input",
                     "On: the clip is scene-linear (EXR plates; Nuke, Natron, Flame "
                     "working spaces) and is clamped and sRGB-encoded for the "
                     "segmentation, as sss-vfx reads an EXR. Off: the clip is "
                     "display-referred (a Rec.709 timeline in Resolve) and is used as "
                     "it is. Used only when the host does not say the clip's colour "
                     "space (OpenFX 1.5 colour management)");
    if (!p)
        return kOfxStatFailed;
    g_prop->propSetInt(p, kOfxParamPropDefault, 0, 1);
    p = define_param(params, kOfxParamTypeInteger, "maxPixels", "Max pixels",
                     "Working-resolution cap of the spectral stages, in pixels; 0 = "
                     "full resolution (slow)");
    if (!p)
        return kOfxStatFailed;
    g_prop->propSetInt(p, kOfxParamPropDefault, 0, DEFAULT_MAX_PIXELS);
    g_prop->propSetInt(p, kOfxParamPropMin, 0, 0);
    g_prop->propSetInt(p, kOfxParamPropMax, 0, 1 << 30);
    g_prop->propSetInt(p, kOfxParamPropDisplayMin, 0, 0);
    g_prop->propSetInt(p, kOfxParamPropDisplayMax, 0, 1 << 22);
    p = define_param(params, kOfxParamTypeString, "device", "Device",
                     "Where the server computes: auto, numpy, opencl[:P:D], cuda[:N]");
    if (!p)
        return kOfxStatFailed;
    g_prop->propSetString(p, kOfxParamPropDefault, 0, "auto");
    g_prop->propSetString(p, kOfxParamPropStringMode, 0, kOfxParamStringIsSingleLine);
    return kOfxStatOK;
}

/* ---------------------------------------------------------------- clip helpers */

static int render_scale_is_one(OfxPropertySetHandle in_args)
{
    double scale[2] = {1.0, 1.0};
    if (g_prop->propGetDoubleN(in_args, kOfxImageEffectPropRenderScale, 2, scale) !=
        kOfxStatOK)
        return 1;
    return fabs(scale[0] - 1.0) < 1e-9 && fabs(scale[1] - 1.0) < 1e-9;
}

/* The frame a render time belongs to: fields at half-frame times belong to the frame
 * they start in. */
static long frame_of(double time) { return (long)floor(time + 1e-6); }

/* The source clip's frame range. Returns 0, 1 when the range is unbounded (a
 * generator: then the shot is the one frame `time`), -1 without a clip or range. */
static int source_range(OfxImageEffectHandle effect, double time, OfxImageClipHandle *clip,
                        OfxPropertySetHandle *clip_props, long *first, long *last)
{
    OfxPropertySetHandle props;
    double range[2] = {0, 0};
    if (g_effect->clipGetHandle(effect, kOfxImageEffectSimpleSourceClipName, clip,
                                &props) != kOfxStatOK)
        return -1;
    if (clip_props)
        *clip_props = props;
    if (g_prop->propGetDoubleN(props, kOfxImageEffectPropFrameRange, 2, range) !=
        kOfxStatOK)
        return -1;
    if (!isfinite(range[0]) || !isfinite(range[1]) ||
        range[0] <= (double)kOfxFlagInfiniteMin + 0.5 ||
        range[1] >= (double)kOfxFlagInfiniteMax - 0.5) {
        *first = *last = frame_of(time);
        return 1;
    }
    *first = (long)floor(range[0] + 0.5);
    *last = (long)floor(range[1] + 0.5);
    return *last >= *first ? 0 : -1;
}

static OfxStatus region_of_definition(OfxImageEffectHandle effect,
                                      OfxPropertySetHandle in_args,
                                      OfxPropertySetHandle out_args)
{
    OfxImageClipHandle clip;
    OfxRectD rod;
    double time = 0;
    /* Layers found at another scale are other layers: full resolution only. */
    if (!render_scale_is_one(in_args))
        return kOfxStatFailed;
    g_prop->propGetDouble(in_args, kOfxPropTime, 0, &time);
    if (g_effect->clipGetHandle(effect, kOfxImageEffectSimpleSourceClipName, &clip,
                                NULL) != kOfxStatOK ||
        g_effect->clipGetRegionOfDefinition(clip, time, &rod) != kOfxStatOK)
        return kOfxStatReplyDefault;
    g_prop->propSetDoubleN(out_args, kOfxImageEffectPropRegionOfDefinition, 4, &rod.x1);
    return kOfxStatOK;
}

/* Any output pixel needs the whole source frame. */
static OfxStatus regions_of_interest(OfxImageEffectHandle effect,
                                     OfxPropertySetHandle in_args,
                                     OfxPropertySetHandle out_args)
{
    OfxImageClipHandle clip;
    OfxRectD rod;
    double time = 0;
    g_prop->propGetDouble(in_args, kOfxPropTime, 0, &time);
    if (g_effect->clipGetHandle(effect, kOfxImageEffectSimpleSourceClipName, &clip,
                                NULL) != kOfxStatOK ||
        g_effect->clipGetRegionOfDefinition(clip, time, &rod) != kOfxStatOK)
        return kOfxStatFailed;
    g_prop->propSetDoubleN(out_args, kSssRegionOfInterestPrefix
                           kOfxImageEffectSimpleSourceClipName, 4, &rod.x1);
    return kOfxStatOK;
}

/* Any output frame needs every frame of the source clip. */
static OfxStatus frames_needed(OfxImageEffectHandle effect, OfxPropertySetHandle in_args,
                               OfxPropertySetHandle out_args)
{
    OfxImageClipHandle clip;
    long first, last;
    double time = 0, range[2];
    g_prop->propGetDouble(in_args, kOfxPropTime, 0, &time);
    if (source_range(effect, time, &clip, NULL, &first, &last) < 0)
        return kOfxStatReplyDefault;
    range[0] = (double)first;
    range[1] = (double)last;
    g_prop->propSetDoubleN(out_args, kSssFramesNeededPrefix
                           kOfxImageEffectSimpleSourceClipName, 2, range);
    return kOfxStatOK;
}

static OfxStatus clip_preferences(OfxImageEffectHandle effect, OfxPropertySetHandle out_args)
{
    /* What the server reads without a conversion of its own, best first (scene-linear
     * Rec.709, then sRGB-encoded), then the standard's basic fallbacks. */
    static const char *const preferred[] = {kOfxColourspaceLinRec709Srgb,
                                            kOfxColourspaceSrgbTx, kOfxColourspaceOfxLinear,
                                            kOfxColourspaceOfxSdr};
    OfxParamSetHandle params;
    OfxParamHandle handle;
    int output_layer = 0;
    if (g_effect->getParamSet(effect, &params) == kOfxStatOK &&
        g_param->paramGetHandle(params, "outputLayer", &handle, NULL) == kOfxStatOK)
        g_param->paramGetValue(handle, &output_layer);
    /* Layers are premultiplied RGBA; the preview has alpha 1. */
    g_prop->propSetString(out_args, kOfxImageEffectPropPreMultiplication, 0,
                          output_layer > 0 ? kOfxImagePreMultiplied : kOfxImageOpaque);
    g_prop->propSetStringN(out_args, kSssPreferredColourspacesPrefix
                           kOfxImageEffectSimpleSourceClipName, 4, preferred);
    return kOfxStatOK;
}

/* An image the host lent us, described. */
typedef struct {
    OfxPropertySetHandle handle;
    char *data;
    OfxRectI bounds;
    int row_bytes;
} Image;

static int describe_image(OfxPropertySetHandle handle, Image *image, char *error,
                          size_t error_size, long frame)
{
    char *depth = NULL, *components = NULL;
    void *data = NULL;
    image->handle = handle;
    g_prop->propGetString(handle, kOfxImageEffectPropPixelDepth, 0, &depth);
    g_prop->propGetString(handle, kOfxImageEffectPropComponents, 0, &components);
    if (!depth || strcmp(depth, kOfxBitDepthFloat) != 0 || !components ||
        strcmp(components, kOfxImageComponentRGBA) != 0) {
        snprintf(error, error_size, "frame %ld is %s %s; SemanticSoftSegmentation needs "
                 "float RGBA (set the clip or project to 32-bit float)", frame,
                 depth ? depth : "?", components ? components : "?");
        return -1;
    }
    if (g_prop->propGetPointer(handle, kOfxImagePropData, 0, &data) != kOfxStatOK ||
        !data ||
        g_prop->propGetIntN(handle, kOfxImagePropBounds, 4, &image->bounds.x1) !=
            kOfxStatOK ||
        g_prop->propGetInt(handle, kOfxImagePropRowBytes, 0, &image->row_bytes) !=
            kOfxStatOK) {
        snprintf(error, error_size, "the host gave frame %ld without data, bounds or "
                 "row bytes", frame);
        return -1;
    }
    image->data = data;
    return 0;
}

static const float *image_row(const Image *image, int y)
{
    return (const float *)(image->data +
                           (ptrdiff_t)(y - image->bounds.y1) * image->row_bytes);
}

/* ---------------------------------------------------------------- render */

typedef struct {
    OfxImageEffectHandle effect;
    Instance *instance;
    OfxImageClipHandle source;
    OfxPropertySetHandle source_props;
    long first, last, frame;
    int width, height;    /* the source's region of definition, in pixels */
    OfxRectI frame_region; /* that region at the rendered frame */
    char (*hashes)[17];
    char dir[SSS_PATH_MAX];   /* runtime folder: the socket */
    char spool[SSS_PATH_MAX]; /* spool folder: frames and results */
    char colourspace[128];    /* the clip's colour space, when the host says it */
    int progress_owner, progress_started;
    int aborted;
    char error[SSS_ERROR_MAX];
} Render;

static int render_should_abort(void *context)
{
    Render *r = context;
    if (g_effect->abort && g_effect->abort(r->effect)) {
        r->aborted = 1;
        return 1;
    }
    return 0;
}

/* Progress: the first render of an instance to report owns the host's progress bar
 * until it ends; the answer of progressUpdate is ignored (hosts that queue progress to
 * their main thread answer "no" before it catches up); cancelling is abort()'s. */
static void progress_report(Render *r, double fraction)
{
    if (!g_progress || !r->instance)
        return;
    if (!r->progress_owner) {
        pthread_mutex_lock(&r->instance->lock);
        if (!r->instance->progress_busy)
            r->instance->progress_busy = r->progress_owner = 1;
        pthread_mutex_unlock(&r->instance->lock);
        if (!r->progress_owner)
            return;
        r->progress_started = g_progress->progressStart(
            r->effect, "Semantic soft segmentation") == kOfxStatOK;
    }
    if (r->progress_started)
        g_progress->progressUpdate(r->effect, fraction);
}

static void progress_finish(Render *r)
{
    if (r->progress_started)
        g_progress->progressEnd(r->effect);
    if (r->progress_owner) {
        pthread_mutex_lock(&r->instance->lock);
        r->instance->progress_busy = 0;
        pthread_mutex_unlock(&r->instance->lock);
    }
}

/* The source's region of definition at frame `number`, in pixels (render scale 1). */
static int source_region(Render *r, long number, OfxRectI *region)
{
    OfxRectD rod;
    double par = 1.0;
    if (g_effect->clipGetRegionOfDefinition(r->source, (double)number, &rod) != kOfxStatOK) {
        snprintf(r->error, sizeof r->error, "the host gave no region of definition for "
                 "frame %ld of the source clip", number);
        return -1;
    }
    g_prop->propGetDouble(r->source_props, kOfxImagePropPixelAspectRatio, 0, &par);
    if (!(par > 0.0))
        par = 1.0;
    if (!isfinite(rod.x1) || !isfinite(rod.x2) || !isfinite(rod.y1) ||
        !isfinite(rod.y2) || fabs(rod.x1 / par) > 1e8 || fabs(rod.x2 / par) > 1e8 ||
        fabs(rod.y1) > 1e8 || fabs(rod.y2) > 1e8) {
        snprintf(r->error, sizeof r->error, "the source clip's region of definition is "
                 "unbounded at frame %ld; crop or reformat it before this effect", number);
        return -1;
    }
    region->x1 = (int)floor(rod.x1 / par + 1e-6);
    region->y1 = (int)floor(rod.y1 + 1e-6);
    region->x2 = (int)ceil(rod.x2 / par - 1e-6);
    region->y2 = (int)ceil(rod.y2 - 1e-6);
    return 0;
}

enum { FETCH_ERROR = -1, FETCH_OK = 0, FETCH_MISSING = 1 };

/* Fetch frame `number` (its whole region of definition), pack it into `pixels` (may
 * be NULL) and return its hash. A frame the host cannot give is black and transparent,
 * as the standard says of a failed fetch (FETCH_MISSING; `pixels` zeroed). */
static int fetch_frame(Render *r, long number, float *pixels, char hash[17])
{
    OfxPropertySetHandle handle = NULL;
    OfxRectI region;
    Image image;
    int w, h, y;
    size_t row_bytes;
    uint64_t state;
    if (g_effect->clipGetImage(r->source, (double)number, NULL, &handle) != kOfxStatOK ||
        !handle) {
        if (r->width == 0)
            return FETCH_MISSING;
        row_bytes = (size_t)r->width * 4 * sizeof(float);
        state = sss_hash_begin(r->width, r->height);
        {
            float *zeros = calloc((size_t)r->width * 4, sizeof(float));
            if (!zeros) {
                snprintf(r->error, sizeof r->error, "out of memory");
                return FETCH_ERROR;
            }
            for (y = 0; y < r->height; y++)
                state = sss_hash_update(state, zeros, row_bytes);
            free(zeros);
        }
        if (pixels)
            memset(pixels, 0, row_bytes * (size_t)r->height);
        sss_hash_hex(state, hash);
        return FETCH_MISSING;
    }
    if (describe_image(handle, &image, r->error, sizeof r->error, number) != 0 ||
        source_region(r, number, &region) != 0) {
        g_effect->clipReleaseImage(handle);
        return FETCH_ERROR;
    }
    w = region.x2 - region.x1;
    h = region.y2 - region.y1;
    if (w <= 0 || h <= 0) {
        snprintf(r->error, sizeof r->error, "frame %ld is empty (%dx%d)", number, w, h);
        g_effect->clipReleaseImage(handle);
        return FETCH_ERROR;
    }
    if (image.bounds.x1 > region.x1 || image.bounds.y1 > region.y1 ||
        image.bounds.x2 < region.x2 || image.bounds.y2 < region.y2) {
        snprintf(r->error, sizeof r->error, "the host gave frame %ld cropped to %d,%d-%d,%d "
                 "but its region of definition is %d,%d-%d,%d; this effect needs whole "
                 "frames of its source", number, image.bounds.x1, image.bounds.y1,
                 image.bounds.x2, image.bounds.y2, region.x1, region.y1, region.x2,
                 region.y2);
        g_effect->clipReleaseImage(handle);
        return FETCH_ERROR;
    }
    if (r->width == 0) {
        r->width = w;
        r->height = h;
    } else if (w != r->width || h != r->height) {
        snprintf(r->error, sizeof r->error, "frame %ld is %dx%d but frame %ld is %dx%d; "
                 "the frames of a clip must have one size (reformat the clip)", number,
                 w, h, r->frame, r->width, r->height);
        g_effect->clipReleaseImage(handle);
        return FETCH_ERROR;
    }
    if (number == r->frame)
        r->frame_region = region;
    row_bytes = (size_t)w * 4 * sizeof(float);
    state = sss_hash_begin(w, h);
    for (y = region.y1; y < region.y2; y++) {
        const float *row = image_row(&image, y) + (size_t)(region.x1 - image.bounds.x1) * 4;
        state = sss_hash_update(state, row, row_bytes);
        if (pixels)
            memcpy(pixels + (size_t)(y - region.y1) * w * 4, row, row_bytes);
    }
    g_effect->clipReleaseImage(handle);
    sss_hash_hex(state, hash);
    return FETCH_OK;
}

/* Every frame's hash: kept from earlier in this sequence render when the rendered
 * frame is unchanged, else fetched and hashed (and kept until the sequence ends). */
static int clip_hashes(Render *r, const char *frame_hash)
{
    long count = r->last - r->first + 1, i;
    Instance *instance = r->instance;
    int reused = 0;
    if (instance) {
        pthread_mutex_lock(&instance->lock);
        if (instance->sequences > 0 && instance->hashes && instance->first == r->first &&
            instance->last == r->last && instance->width == r->width &&
            instance->height == r->height &&
            strcmp(instance->hashes[r->frame - r->first], frame_hash) == 0) {
            memcpy(r->hashes, instance->hashes, (size_t)count * sizeof *r->hashes);
            reused = 1;
        }
        pthread_mutex_unlock(&instance->lock);
    }
    if (reused)
        return 0;
    for (i = 0; i < count; i++) {
        if (r->first + i == r->frame) {
            memcpy(r->hashes[i], frame_hash, 17);
            continue;
        }
        if (render_should_abort(r) ||
            fetch_frame(r, r->first + i, NULL, r->hashes[i]) == FETCH_ERROR)
            return -1;
    }
    if (instance) {
        pthread_mutex_lock(&instance->lock);
        if (instance->sequences > 0) {
            char (*kept)[17] = malloc((size_t)count * sizeof *kept);
            if (kept) {
                memcpy(kept, r->hashes, (size_t)count * sizeof *kept);
                forget_hashes(instance);
                instance->hashes = kept;
                instance->first = r->first;
                instance->last = r->last;
                instance->width = r->width;
                instance->height = r->height;
            }
        }
        pthread_mutex_unlock(&instance->lock);
    }
    return 0;
}

static char *build_request(Render *r, int layers, int output_layer, int temporal,
                           int linear, int max_pixels, const char *device)
{
    size_t count = (size_t)(r->last - r->first + 1);
    size_t size = 1024 + count * 20 + strlen(device) * 6 + 6 * sizeof r->spool +
                  6 * sizeof r->colourspace;
    char *json = malloc(size);
    char quoted[1024], spool[6 * SSS_PATH_MAX + 8], colourspace[6 * 128 + 8];
    size_t n;
    size_t i;
    if (!json)
        return NULL;
    if (sss_json_quote(quoted, sizeof quoted, device) < 0 ||
        sss_json_quote(spool, sizeof spool, r->spool) < 0 ||
        sss_json_quote(colourspace, sizeof colourspace, r->colourspace) < 0) {
        free(json);
        return NULL;
    }
    n = (size_t)snprintf(json, size,
                         "{\"schema\":\"%s\",\"op\":\"render\",\"frame\":%ld,\"first\":%ld,"
                         "\"last\":%ld,\"width\":%d,\"height\":%d,\"output_layer\":%d,"
                         "\"spool\":%s,\"params\":{\"layers\":%d,\"temporal\":%s,"
                         "\"linear\":%s,\"max_pixels\":%d,\"device\":%s%s%s},\"hashes\":[",
                         SSS_REQUEST_SCHEMA, r->frame, r->first, r->last, r->width,
                         r->height, output_layer, spool, layers,
                         temporal ? "true" : "false", linear ? "true" : "false", max_pixels,
                         quoted, r->colourspace[0] ? ",\"colourspace\":" : "",
                         r->colourspace[0] ? colourspace : "");
    for (i = 0; i < count; i++)
        n += (size_t)snprintf(json + n, size - n, "%s\"%s\"", i ? "," : "", r->hashes[i]);
    snprintf(json + n, size - n, "]}");
    return json;
}

/* Write the frames the server asked for into the spool folder. */
static int provide_frames(Render *r, const char *reply)
{
    long numbers[4096];
    int count = sss_json_long_array(reply, "frames", numbers, 4096);
    size_t bytes = (size_t)r->width * r->height * 4 * sizeof(float);
    float *pixels;
    int i;
    if (count < 0 || count > 4096) {
        snprintf(r->error, sizeof r->error, "the render server sent a malformed request "
                 "for frames");
        return -1;
    }
    pixels = malloc(bytes);
    if (!pixels) {
        snprintf(r->error, sizeof r->error, "out of memory for a %dx%d frame", r->width,
                 r->height);
        return -1;
    }
    for (i = 0; i < count; i++) {
        char hash[17];
        long number = numbers[i];
        if (number < r->first || number > r->last) {
            snprintf(r->error, sizeof r->error, "the render server asked for frame %ld, "
                     "outside the clip %ld-%ld", number, r->first, r->last);
            free(pixels);
            return -1;
        }
        if (render_should_abort(r) || fetch_frame(r, number, pixels, hash) == FETCH_ERROR) {
            free(pixels);
            return -1;
        }
        /* The file is named by the content hashed before: refuse a frame that changed. */
        if (strcmp(hash, r->hashes[number - r->first]) != 0) {
            snprintf(r->error, sizeof r->error, "source frame %ld changed during the "
                     "render; render again", number);
            free(pixels);
            return -1;
        }
        if (sss_write_frame(r->spool, hash, pixels, bytes, r->error, sizeof r->error) != 0) {
            free(pixels);
            return -1;
        }
    }
    free(pixels);
    return 0;
}

/* Copy `result` (the server's frame, `width` x `height` at `region`; NULL: black and
 * transparent) into the render window of the output image. */
static int fill_window(Render *r, const float *result, long width, long height,
                       const OfxRectI *region, double time, const OfxRectI *window)
{
    OfxImageClipHandle output_clip;
    OfxPropertySetHandle handle = NULL;
    Image out;
    int x, y;
    if (g_effect->clipGetHandle(r->effect, kOfxImageEffectOutputClipName, &output_clip,
                                NULL) != kOfxStatOK ||
        g_effect->clipGetImage(output_clip, time, NULL, &handle) != kOfxStatOK ||
        !handle) {
        snprintf(r->error, sizeof r->error, "the host gave no output image");
        return -1;
    }
    if (describe_image(handle, &out, r->error, sizeof r->error, r->frame) != 0) {
        g_effect->clipReleaseImage(handle);
        return -1;
    }
    for (y = window->y1; y < window->y2; y++) {
        float *row;
        if (y < out.bounds.y1 || y >= out.bounds.y2)
            continue;
        row = (float *)image_row(&out, y);
        for (x = window->x1; x < window->x2; x++) {
            float *pixel;
            long sx = result ? x - region->x1 : -1, sy = result ? y - region->y1 : -1;
            if (x < out.bounds.x1 || x >= out.bounds.x2)
                continue;
            pixel = row + (size_t)(x - out.bounds.x1) * 4;
            if (sx >= 0 && sx < width && sy >= 0 && sy < height)
                memcpy(pixel, result + ((size_t)sy * width + sx) * 4, 4 * sizeof(float));
            else
                memset(pixel, 0, 4 * sizeof(float));
        }
    }
    g_effect->clipReleaseImage(handle);
    return 0;
}

/* Read the server's frame and copy it into the render window. */
static int deliver(Render *r, const char *reply, double time, const OfxRectI *window)
{
    char path[SSS_PATH_MAX];
    char out_folder[SSS_PATH_MAX + 8];
    long width = 0, height = 0;
    size_t bytes;
    float *result;
    FILE *f;
    struct stat st;
    int ok;
    if (sss_json_string(reply, "path", path, sizeof path) != 0 ||
        sss_json_long(reply, "width", &width) != 0 ||
        sss_json_long(reply, "height", &height) != 0 || width != r->width ||
        height != r->height) {
        snprintf(r->error, sizeof r->error, "the render server's reply is malformed");
        return -1;
    }
    snprintf(out_folder, sizeof out_folder, "%s/out", r->spool);
    if (!sss_same_folder(path, out_folder)) {
        snprintf(r->error, sizeof r->error, "the render server named a result outside "
                 "%.900s; refusing it", out_folder);
        return -1;
    }
    bytes = (size_t)width * height * 4 * sizeof(float);
    f = fopen(path, "rb");
    if (!f || fstat(fileno(f), &st) != 0 || (size_t)st.st_size != bytes) {
        snprintf(r->error, sizeof r->error, "the render server's result %.900s is missing "
                 "or of the wrong size", path);
        if (f)
            fclose(f);
        unlink(path);
        return -1;
    }
    result = malloc(bytes);
    if (!result || fread(result, 1, bytes, f) != bytes) {
        snprintf(r->error, sizeof r->error, "cannot read the render server's result %.900s",
                 path);
        free(result);
        fclose(f);
        unlink(path);
        return -1;
    }
    fclose(f);
    unlink(path);
    ok = fill_window(r, result, width, height, &r->frame_region, time, window);
    free(result);
    return ok;
}

enum { TALK_DONE, TALK_ERROR, TALK_LOST, TALK_ABORTED };

/* One conversation with the server: send, answer its requests for frames, deliver. */
static int talk(Render *r, int fd, const char *request, double time,
                const OfxRectI *window)
{
    int rounds = 0;
    if (sss_send(fd, request, strlen(request)) != 0)
        return TALK_LOST;
    for (;;) {
        char *reply = NULL;
        char status[32];
        int got = sss_receive(fd, &reply, render_should_abort, r);
        if (got == SSS_RECV_ABORTED)
            return TALK_ABORTED;
        if (got != SSS_RECV_MESSAGE)
            return TALK_LOST;
        if (sss_json_string(reply, "status", status, sizeof status) != 0) {
            snprintf(r->error, sizeof r->error, "the render server sent a malformed "
                     "reply");
            free(reply);
            return TALK_ERROR;
        }
        if (strcmp(status, "progress") == 0) {
            double done = 0, total = 1;
            sss_json_double(reply, "done", &done);
            sss_json_double(reply, "total", &total);
            if (total > 0)
                progress_report(r, done / total);
        } else if (strcmp(status, "need") == 0) {
            /* each round brings at most 4096 frames */
            int most = MAX_NEED_ROUNDS + (int)((r->last - r->first) / 4096);
            if (++rounds > most || provide_frames(r, reply) != 0) {
                if (rounds > most)
                    snprintf(r->error, sizeof r->error, "the render server kept asking "
                             "for frames");
                free(reply);
                return r->aborted ? TALK_ABORTED : TALK_ERROR;
            }
            if (sss_send(fd, request, strlen(request)) != 0) {
                free(reply);
                return TALK_LOST;
            }
        } else if (strcmp(status, "done") == 0) {
            int ok = deliver(r, reply, time, window);
            free(reply);
            return ok == 0 ? TALK_DONE : TALK_ERROR;
        } else {
            char message[SSS_ERROR_MAX - 32];
            if (sss_json_string(reply, "error", message, sizeof message) != 0)
                snprintf(message, sizeof message, "unknown reply '%s'", status);
            snprintf(r->error, sizeof r->error, "%s", message);
            free(reply);
            return TALK_ERROR;
        }
        free(reply);
    }
}

static int param_int(OfxParamSetHandle params, const char *name, double time, int *value)
{
    OfxParamHandle handle;
    if (g_param->paramGetHandle(params, name, &handle, NULL) != kOfxStatOK)
        return -1;
    return g_param->paramGetValueAtTime(handle, time, value) == kOfxStatOK ? 0 : -1;
}

/* Ask the server (starting it when none runs; once more when it stops mid-render). */
static int converse(Render *r, const char *request, double time, const OfxRectI *window)
{
    int attempt, tries, outcome = TALK_ERROR;
    for (attempt = 0; attempt < 2; attempt++) {
        char connect_error[SSS_ERROR_MAX];
        int fd = sss_connect(r->dir, connect_error, sizeof connect_error);
        if (fd < 0) {
            int started = sss_start_server(r->dir, render_should_abort, r, r->error,
                                           sizeof r->error);
            if (started == -2)
                return TALK_ABORTED;
            if (started != 0)
                return TALK_ERROR;
            fd = sss_connect(r->dir, r->error, sizeof r->error);
            for (tries = 0; fd < 0 && tries < 50 && !render_should_abort(r); tries++) {
                usleep(100000); /* a server started by another thread is binding */
                fd = sss_connect(r->dir, r->error, sizeof r->error);
            }
            if (fd < 0)
                return TALK_ERROR;
        }
        outcome = talk(r, fd, request, time, window);
        close(fd);
        if (outcome != TALK_LOST)
            return outcome;
        snprintf(r->error, sizeof r->error, "the render server stopped during the "
                 "render (crashed or killed) and failed again after a restart; see "
                 "%.800s/serve.log", r->dir);
    }
    return outcome;
}

static OfxStatus render(OfxImageEffectHandle effect, OfxPropertySetHandle in_args)
{
    Render *r;
    OfxParamSetHandle params;
    OfxParamHandle device_param;
    OfxRectI window;
    double time = 0;
    int layers = DEFAULT_LAYERS, output_layer = 0, temporal = 1, linear = 1;
    int max_pixels = DEFAULT_MAX_PIXELS;
    char device[256] = "auto";
    char *device_value = NULL, *colourspace = NULL;
    char *request = NULL;
    char frame_hash[17];
    long count;
    int fetched, outcome = TALK_ERROR;
    OfxStatus status = kOfxStatFailed;

    r = calloc(1, sizeof *r);
    if (!r)
        return kOfxStatErrMemory;
    r->effect = effect;
    r->instance = instance_of(effect);
    g_prop->propGetDouble(in_args, kOfxPropTime, 0, &time);
    g_prop->propGetIntN(in_args, kOfxImageEffectPropRenderWindow, 4, &window.x1);
    r->frame = frame_of(time);
    if (!render_scale_is_one(in_args)) {
        snprintf(r->error, sizeof r->error, "SemanticSoftSegmentation renders at full "
                 "resolution only (render scale 1): turn proxy or reduced-resolution "
                 "rendering off for this effect");
        goto done;
    }
    if (g_effect->getParamSet(effect, &params) != kOfxStatOK ||
        param_int(params, "layers", time, &layers) != 0 ||
        param_int(params, "outputLayer", time, &output_layer) != 0 ||
        param_int(params, "temporal", time, &temporal) != 0 ||
        param_int(params, "linearInput", time, &linear) != 0 ||
        param_int(params, "maxPixels", time, &max_pixels) != 0) {
        snprintf(r->error, sizeof r->error, "cannot read the parameters");
        goto done;
    }
    if (g_param->paramGetHandle(params, "device", &device_param, NULL) == kOfxStatOK &&
        g_param->paramGetValueAtTime(device_param, time, &device_value) == kOfxStatOK &&
        device_value && *device_value)
        snprintf(device, sizeof device, "%s", device_value);
    if (source_range(effect, time, &r->source, &r->source_props, &r->first, &r->last) < 0) {
        snprintf(r->error, sizeof r->error, "the source clip has no frame range; connect "
                 "a clip");
        goto done;
    }
    if (g_prop->propGetString(r->source_props, kOfxImageClipPropColourspace, 0,
                              &colourspace) == kOfxStatOK && colourspace)
        snprintf(r->colourspace, sizeof r->colourspace, "%s", colourspace);
    count = r->last - r->first + 1;
    if (r->frame < r->first || r->frame > r->last) {
        /* Nothing of the clip here: black and transparent, not an error. */
        if (fill_window(r, NULL, 0, 0, NULL, time, &window) == 0)
            status = kOfxStatOK;
        goto done;
    }
    if (count > MAX_FRAMES) {
        snprintf(r->error, sizeof r->error, "the source clip has %ld frames; this effect "
                 "segments at most %d at once (trim the clip)", count, MAX_FRAMES);
        goto done;
    }
    fetched = fetch_frame(r, r->frame, NULL, frame_hash);
    if (fetched == FETCH_ERROR)
        goto done;
    if (fetched == FETCH_MISSING && r->width == 0) {
        /* The host has no image here: black and transparent, as the standard says. */
        if (fill_window(r, NULL, 0, 0, NULL, time, &window) == 0)
            status = kOfxStatOK;
        goto done;
    }
    if (sss_runtime_dir(r->dir, sizeof r->dir, r->error, sizeof r->error) != 0 ||
        sss_spool_dir(r->spool, sizeof r->spool, r->error, sizeof r->error) != 0)
        goto done;
    r->hashes = calloc((size_t)count, sizeof *r->hashes);
    if (!r->hashes) {
        snprintf(r->error, sizeof r->error, "out of memory");
        goto done;
    }
    /* The shot's identity: every source frame's content. */
    if (clip_hashes(r, frame_hash) != 0)
        goto done;
    request = build_request(r, layers, output_layer, temporal, linear, max_pixels, device);
    if (!request) {
        snprintf(r->error, sizeof r->error, "out of memory");
        goto done;
    }
    if (strlen(request) > SSS_MAX_MESSAGE) {
        snprintf(r->error, sizeof r->error, "the request for %ld frames is larger than "
                 "the %d bytes a message may hold; trim the clip", count, SSS_MAX_MESSAGE);
        goto done;
    }
    outcome = converse(r, request, time, &window);
    if (outcome == TALK_DONE)
        status = kOfxStatOK;
    else if (outcome == TALK_ABORTED)
        r->aborted = 1;

done:
    progress_finish(r);
    if (status == kOfxStatOK)
        clear_error(effect);
    else if (!r->aborted)
        post_error(effect, r->error[0] ? r->error : "render failed");
    free(request);
    free(r->hashes);
    free(r);
    return status;
}

/* ---------------------------------------------------------------- entry points */

static OfxStatus main_entry(const char *action, const void *handle,
                            OfxPropertySetHandle in_args, OfxPropertySetHandle out_args)
{
    OfxImageEffectHandle effect = (OfxImageEffectHandle)handle;
    if (strcmp(action, kOfxActionLoad) == 0)
        return on_load();
    if (!g_prop || !g_effect || !g_param)
        return kOfxStatErrMissingHostFeature;
    if (strcmp(action, kOfxActionUnload) == 0)
        return kOfxStatOK;
    if (strcmp(action, kOfxActionDescribe) == 0)
        return describe(effect);
    if (strcmp(action, kOfxImageEffectActionDescribeInContext) == 0)
        return describe_in_context(effect, in_args);
    if (strcmp(action, kOfxActionCreateInstance) == 0)
        return create_instance(effect);
    if (strcmp(action, kOfxActionDestroyInstance) == 0)
        return destroy_instance(effect);
    if (strcmp(action, kOfxImageEffectActionGetRegionOfDefinition) == 0)
        return region_of_definition(effect, in_args, out_args);
    if (strcmp(action, kOfxImageEffectActionGetRegionsOfInterest) == 0)
        return regions_of_interest(effect, in_args, out_args);
    if (strcmp(action, kOfxImageEffectActionGetFramesNeeded) == 0)
        return frames_needed(effect, in_args, out_args);
    if (strcmp(action, kOfxImageEffectActionGetClipPreferences) == 0)
        return clip_preferences(effect, out_args);
    if (strcmp(action, kOfxImageEffectActionBeginSequenceRender) == 0)
        return sequence(effect, 1);
    if (strcmp(action, kOfxImageEffectActionEndSequenceRender) == 0)
        return sequence(effect, 0);
    if (strcmp(action, kOfxImageEffectActionRender) == 0)
        return render(effect, in_args);
    return kOfxStatReplyDefault;
}

static OfxPlugin g_plugin = {
    kOfxImageEffectPluginApi, kOfxImageEffectPluginApiVersion, PLUGIN_ID, 1, 0,
    set_host, main_entry,
};

SSS_OFX_EXPORT int OfxGetNumberOfPlugins(void) { return 1; }

SSS_OFX_EXPORT OfxPlugin *OfxGetPlugin(int nth) { return nth == 0 ? &g_plugin : NULL; }
