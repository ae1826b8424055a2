console.log("atelier test extension loaded");
