// A slice of /object_info for the core nodes the tests use (shapes as the server sends them).
import type { ObjectInfo } from "../types";

const SAMPLERS = ["euler", "dpmpp_2m"];
const SCHEDULERS = ["normal", "karras"];

export const objectInfo: ObjectInfo = {
  CheckpointLoaderSimple: {
    input: { required: { ckpt_name: [["v1-5-pruned-emaonly.safetensors", "other.safetensors"]] } },
    input_order: { required: ["ckpt_name"] }, output: ["MODEL", "CLIP", "VAE"], output_name: ["MODEL", "CLIP", "VAE"],
    name: "CheckpointLoaderSimple", display_name: "Load Checkpoint", description: "", category: "loaders", output_node: false,
  },
  CLIPTextEncode: {
    input: { required: { text: ["STRING", { multiline: true }], clip: ["CLIP"] } },
    input_order: { required: ["text", "clip"] }, output: ["CONDITIONING"], output_name: ["CONDITIONING"],
    name: "CLIPTextEncode", display_name: "CLIP Text Encode (Prompt)", description: "", category: "conditioning", output_node: false,
  },
  EmptyLatentImage: {
    input: { required: { width: ["INT", { default: 512, min: 16 }], height: ["INT", { default: 512, min: 16 }], batch_size: ["INT", { default: 1 }] } },
    input_order: { required: ["width", "height", "batch_size"] }, output: ["LATENT"], output_name: ["LATENT"],
    name: "EmptyLatentImage", display_name: "Empty Latent Image", description: "", category: "latent", output_node: false,
  },
  KSampler: {
    input: { required: {
      model: ["MODEL"], seed: ["INT", { default: 0, min: 0, max: 1e19, control_after_generate: true }], steps: ["INT", { default: 20, min: 1 }],
      cfg: ["FLOAT", { default: 8 }], sampler_name: [SAMPLERS], scheduler: [SCHEDULERS], positive: ["CONDITIONING"],
      negative: ["CONDITIONING"], latent_image: ["LATENT"], denoise: ["FLOAT", { default: 1 }],
    } },
    input_order: { required: ["model", "seed", "steps", "cfg", "sampler_name", "scheduler", "positive", "negative", "latent_image", "denoise"] },
    output: ["LATENT"], output_name: ["LATENT"], name: "KSampler", display_name: "KSampler", description: "", category: "sampling", output_node: false,
  },
  VAEDecode: {
    input: { required: { samples: ["LATENT"], vae: ["VAE"] } }, input_order: { required: ["samples", "vae"] },
    output: ["IMAGE"], output_name: ["IMAGE"], name: "VAEDecode", display_name: "VAE Decode", description: "", category: "latent", output_node: false,
  },
  SaveImage: {
    input: { required: { images: ["IMAGE"], filename_prefix: ["STRING", { default: "ComfyUI" }] } },
    input_order: { required: ["images", "filename_prefix"] }, output: [], output_name: [],
    name: "SaveImage", display_name: "Save Image", description: "", category: "image", output_node: true,
  },
  LoadImage: {
    input: { required: { image: [["example.png"], { image_upload: true }] } }, input_order: { required: ["image"] },
    output: ["IMAGE", "MASK"], output_name: ["IMAGE", "MASK"], name: "LoadImage", display_name: "Load Image", description: "", category: "image", output_node: false,
  },
  ImageInvert: {
    input: { required: { image: ["IMAGE"] } }, input_order: { required: ["image"] }, output: ["IMAGE"], output_name: ["IMAGE"],
    name: "ImageInvert", display_name: "Invert Image", description: "", category: "image", output_node: false,
  },
};
