"""The reference generators, written out from the repositories' definitions for the tests (neither is on PyPI):
taoxugit/AttnGAN ``code/model.py`` + ``code/GlobalAttention.py`` (RNN_ENCODER, CA_NET, INIT_STAGE_G, NEXT_STAGE_G,
GlobalAttentionGeneral, G_NET, G_DCGAN) and hanzhanggit/StackGAN-v2 ``code/model.py`` (CA_NET, INIT_STAGE_G,
NEXT_STAGE_G, G_NET). The module structure, attribute names and forward math are the repositories'; the global
``cfg`` is passed in, ``Variable`` and ``.cuda()`` are gone, and the implicit softmax dimension (1 for the 2-D inputs
it is applied to) is written out. Test-only."""

from __future__ import annotations

from types import SimpleNamespace

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


def attngan_cfg(gf_dim: int = 32, z_dim: int = 100, condition_dim: int = 100, embedding_dim: int = 256,
                r_num: int = 2, branch_num: int = 3) -> SimpleNamespace:
    """AttnGAN's cfg (code/cfg/bird_attn2.yml: GF_DIM 32, Z_DIM 100, R_NUM 2; config.py: CONDITION_DIM 100)."""
    return SimpleNamespace(GAN=SimpleNamespace(GF_DIM=gf_dim, Z_DIM=z_dim, CONDITION_DIM=condition_dim, R_NUM=r_num),
                           TEXT=SimpleNamespace(EMBEDDING_DIM=embedding_dim),
                           TREE=SimpleNamespace(BRANCH_NUM=branch_num))


def stackgan_cfg(gf_dim: int = 64, z_dim: int = 100, embedding_dim: int = 128, r_num: int = 2, b_condition: bool = True,
                 text_dim: int = 1024, branch_num: int = 3) -> SimpleNamespace:
    """StackGAN-v2's cfg (code/cfg/birds_3stages.yml: GF_DIM 64, Z_DIM 100, EMBEDDING_DIM 128, R_NUM 2)."""
    return SimpleNamespace(GAN=SimpleNamespace(GF_DIM=gf_dim, Z_DIM=z_dim, EMBEDDING_DIM=embedding_dim, R_NUM=r_num,
                                               B_CONDITION=b_condition),
                           TEXT=SimpleNamespace(DIMENSION=text_dim), TREE=SimpleNamespace(BRANCH_NUM=branch_num))


# ---------------------------------------------------------------- shared by both repositories (identical code)
class GLU(nn.Module):
    def forward(self, x):
        nc = x.size(1)
        nc = int(nc / 2)
        return x[:, :nc] * torch.sigmoid(x[:, nc:])


def conv1x1(in_planes, out_planes):
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=1, padding=0, bias=False)


def conv3x3(in_planes, out_planes):
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=1, padding=1, bias=False)


def upBlock(in_planes, out_planes):
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), conv3x3(in_planes, out_planes * 2),
                         nn.BatchNorm2d(out_planes * 2), GLU())


def Block3x3_relu(in_planes, out_planes):
    return nn.Sequential(conv3x3(in_planes, out_planes * 2), nn.BatchNorm2d(out_planes * 2), GLU())


class ResBlock(nn.Module):
    def __init__(self, channel_num):
        super().__init__()
        self.block = nn.Sequential(conv3x3(channel_num, channel_num * 2), nn.BatchNorm2d(channel_num * 2), GLU(),
                                   conv3x3(channel_num, channel_num), nn.BatchNorm2d(channel_num))

    def forward(self, x):
        residual = x
        out = self.block(x)
        out += residual
        return out


class GET_IMAGE_G(nn.Module):
    def __init__(self, ngf):
        super().__init__()
        self.gf_dim = ngf
        self.img = nn.Sequential(conv3x3(ngf, 3), nn.Tanh())

    def forward(self, h_code):
        return self.img(h_code)


class CA_NET(nn.Module):
    def __init__(self, t_dim, c_dim):
        super().__init__()
        self.t_dim = t_dim
        self.c_dim = c_dim
        self.fc = nn.Linear(self.t_dim, self.c_dim * 4, bias=True)
        self.relu = GLU()

    def encode(self, text_embedding):
        x = self.relu(self.fc(text_embedding))
        return x[:, :self.c_dim], x[:, self.c_dim:]

    def reparametrize(self, mu, logvar):
        std = logvar.mul(0.5).exp_()
        eps = torch.FloatTensor(std.size()).normal_()  # the global RNG, as the reference on the CPU
        return eps.mul(std).add_(mu)

    def forward(self, text_embedding):
        mu, logvar = self.encode(text_embedding)
        return self.reparametrize(mu, logvar), mu, logvar


# ---------------------------------------------------------------- AttnGAN
class RNN_ENCODER(nn.Module):
    def __init__(self, ntoken, ninput=300, drop_prob=0.5, nhidden=128, nlayers=1, bidirectional=True):
        super().__init__()
        self.ntoken, self.ninput, self.drop_prob, self.nlayers = ntoken, ninput, drop_prob, nlayers
        self.bidirectional = bidirectional
        self.num_directions = 2 if bidirectional else 1
        self.nhidden = nhidden // self.num_directions
        self.encoder = nn.Embedding(self.ntoken, self.ninput)
        self.drop = nn.Dropout(self.drop_prob)
        self.rnn = nn.LSTM(self.ninput, self.nhidden, self.nlayers, batch_first=True,
                           dropout=self.drop_prob if nlayers > 1 else 0.0, bidirectional=self.bidirectional)

    def init_hidden(self, bsz):
        weight = next(self.parameters()).data
        shape = (self.nlayers * self.num_directions, bsz, self.nhidden)
        return weight.new(*shape).zero_(), weight.new(*shape).zero_()

    def forward(self, captions, cap_lens, hidden, mask=None):
        emb = self.drop(self.encoder(captions))
        cap_lens = cap_lens.data.tolist()
        emb = pack_padded_sequence(emb, cap_lens, batch_first=True)
        output, hidden = self.rnn(emb, hidden)
        output = pad_packed_sequence(output, batch_first=True)[0]
        words_emb = output.transpose(1, 2)
        sent_emb = hidden[0].transpose(0, 1).contiguous()
        sent_emb = sent_emb.view(-1, self.nhidden * self.num_directions)
        return words_emb, sent_emb


class GlobalAttentionGeneral(nn.Module):
    def __init__(self, idf, cdf):
        super().__init__()
        self.conv_context = conv1x1(cdf, idf)
        self.sm = nn.Softmax(dim=1)
        self.mask = None

    def applyMask(self, mask):
        self.mask = mask

    def forward(self, input, context):
        ih, iw = input.size(2), input.size(3)
        queryL = ih * iw
        batch_size, sourceL = context.size(0), context.size(2)
        target = input.view(batch_size, -1, queryL)
        targetT = torch.transpose(target, 1, 2).contiguous()
        sourceT = context.unsqueeze(3)
        sourceT = self.conv_context(sourceT).squeeze(3)
        attn = torch.bmm(targetT, sourceT)
        attn = attn.view(batch_size * queryL, sourceL)
        if self.mask is not None:
            mask = self.mask.repeat(queryL, 1)
            attn.data.masked_fill_(mask.data, -float("inf"))
        attn = self.sm(attn)
        attn = attn.view(batch_size, queryL, sourceL)
        attn = torch.transpose(attn, 1, 2).contiguous()
        weightedContext = torch.bmm(sourceT, attn)
        weightedContext = weightedContext.view(batch_size, -1, ih, iw)
        attn = attn.view(batch_size, -1, ih, iw)
        return weightedContext, attn


class ATTN_INIT_STAGE_G(nn.Module):
    def __init__(self, cfg, ngf, ncf):
        super().__init__()
        self.gf_dim = ngf
        self.in_dim = cfg.GAN.Z_DIM + ncf
        nz = self.in_dim
        self.fc = nn.Sequential(nn.Linear(nz, ngf * 4 * 4 * 2, bias=False), nn.BatchNorm1d(ngf * 4 * 4 * 2), GLU())
        self.upsample1 = upBlock(ngf, ngf // 2)
        self.upsample2 = upBlock(ngf // 2, ngf // 4)
        self.upsample3 = upBlock(ngf // 4, ngf // 8)
        self.upsample4 = upBlock(ngf // 8, ngf // 16)

    def forward(self, z_code, c_code):
        c_z_code = torch.cat((c_code, z_code), 1)
        out_code = self.fc(c_z_code)
        out_code = out_code.view(-1, self.gf_dim, 4, 4)
        out_code = self.upsample1(out_code)
        out_code = self.upsample2(out_code)
        out_code32 = self.upsample3(out_code)
        return self.upsample4(out_code32)


class ATTN_NEXT_STAGE_G(nn.Module):
    def __init__(self, cfg, ngf, nef, ncf):
        super().__init__()
        self.gf_dim, self.ef_dim, self.cf_dim = ngf, nef, ncf
        self.att = GlobalAttentionGeneral(ngf, self.ef_dim)
        self.residual = nn.Sequential(*[ResBlock(ngf * 2) for _ in range(cfg.GAN.R_NUM)])
        self.upsample = upBlock(ngf * 2, ngf)

    def forward(self, h_code, c_code, word_embs, mask):
        self.att.applyMask(mask)
        c_code, att = self.att(h_code, word_embs)
        h_c_code = torch.cat((h_code, c_code), 1)
        out_code = self.residual(h_c_code)
        return self.upsample(out_code), att


class ATTN_G_NET(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        ngf, nef, ncf = cfg.GAN.GF_DIM, cfg.TEXT.EMBEDDING_DIM, cfg.GAN.CONDITION_DIM
        self.branch_num = cfg.TREE.BRANCH_NUM
        self.ca_net = CA_NET(nef, ncf)
        if self.branch_num > 0:
            self.h_net1 = ATTN_INIT_STAGE_G(cfg, ngf * 16, ncf)
            self.img_net1 = GET_IMAGE_G(ngf)
        if self.branch_num > 1:
            self.h_net2 = ATTN_NEXT_STAGE_G(cfg, ngf, nef, ncf)
            self.img_net2 = GET_IMAGE_G(ngf)
        if self.branch_num > 2:
            self.h_net3 = ATTN_NEXT_STAGE_G(cfg, ngf, nef, ncf)
            self.img_net3 = GET_IMAGE_G(ngf)

    def forward(self, z_code, sent_emb, word_embs, mask):
        fake_imgs, att_maps = [], []
        c_code, mu, logvar = self.ca_net(sent_emb)
        if self.branch_num > 0:
            h_code1 = self.h_net1(z_code, c_code)
            fake_imgs.append(self.img_net1(h_code1))
        if self.branch_num > 1:
            h_code2, att1 = self.h_net2(h_code1, c_code, word_embs, mask)
            fake_imgs.append(self.img_net2(h_code2))
            att_maps.append(att1)
        if self.branch_num > 2:
            h_code3, att2 = self.h_net3(h_code2, c_code, word_embs, mask)
            fake_imgs.append(self.img_net3(h_code3))
            att_maps.append(att2)
        return fake_imgs, att_maps, mu, logvar


class ATTN_G_DCGAN(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        ngf, nef, ncf = cfg.GAN.GF_DIM, cfg.TEXT.EMBEDDING_DIM, cfg.GAN.CONDITION_DIM
        self.branch_num = cfg.TREE.BRANCH_NUM
        self.ca_net = CA_NET(nef, ncf)
        if self.branch_num > 0:
            self.h_net1 = ATTN_INIT_STAGE_G(cfg, ngf * 16, ncf)
        if self.branch_num > 1:
            self.h_net2 = ATTN_NEXT_STAGE_G(cfg, ngf, nef, ncf)
        if self.branch_num > 2:
            self.h_net3 = ATTN_NEXT_STAGE_G(cfg, ngf, nef, ncf)
        self.img_net = GET_IMAGE_G(ngf)

    def forward(self, z_code, sent_emb, word_embs, mask):
        c_code, mu, logvar = self.ca_net(sent_emb)
        h_code = self.h_net1(z_code, c_code)
        if self.branch_num > 1:
            h_code, _ = self.h_net2(h_code, c_code, word_embs, mask)
        if self.branch_num > 2:
            h_code, _ = self.h_net3(h_code, c_code, word_embs, mask)
        return [self.img_net(h_code)], [], mu, logvar


# ---------------------------------------------------------------- StackGAN++
class STACK_INIT_STAGE_G(nn.Module):
    def __init__(self, cfg, ngf):
        super().__init__()
        self.cfg, self.gf_dim = cfg, ngf
        self.in_dim = cfg.GAN.Z_DIM + cfg.GAN.EMBEDDING_DIM if cfg.GAN.B_CONDITION else cfg.GAN.Z_DIM
        self.fc = nn.Sequential(nn.Linear(self.in_dim, ngf * 4 * 4 * 2, bias=False), nn.BatchNorm1d(ngf * 4 * 4 * 2),
                                GLU())
        self.upsample1 = upBlock(ngf, ngf // 2)
        self.upsample2 = upBlock(ngf // 2, ngf // 4)
        self.upsample3 = upBlock(ngf // 4, ngf // 8)
        self.upsample4 = upBlock(ngf // 8, ngf // 16)

    def forward(self, z_code, c_code=None):
        in_code = torch.cat((c_code, z_code), 1) if self.cfg.GAN.B_CONDITION and c_code is not None else z_code
        out_code = self.fc(in_code)
        out_code = out_code.view(-1, self.gf_dim, 4, 4)
        out_code = self.upsample1(out_code)
        out_code = self.upsample2(out_code)
        out_code = self.upsample3(out_code)
        return self.upsample4(out_code)


class STACK_NEXT_STAGE_G(nn.Module):
    def __init__(self, cfg, ngf, num_residual):
        super().__init__()
        self.gf_dim = ngf
        self.ef_dim = cfg.GAN.EMBEDDING_DIM if cfg.GAN.B_CONDITION else cfg.GAN.Z_DIM
        self.num_residual = num_residual
        self.jointConv = Block3x3_relu(ngf + self.ef_dim, ngf)
        self.residual = nn.Sequential(*[ResBlock(ngf) for _ in range(num_residual)])
        self.upsample = upBlock(ngf, ngf // 2)

    def forward(self, h_code, c_code):
        s_size = h_code.size(2)
        c_code = c_code.view(-1, self.ef_dim, 1, 1)
        c_code = c_code.repeat(1, 1, s_size, s_size)
        h_c_code = torch.cat((c_code, h_code), 1)
        out_code = self.jointConv(h_c_code)
        out_code = self.residual(out_code)
        return self.upsample(out_code)


class STACK_G_NET(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg, self.gf_dim = cfg, cfg.GAN.GF_DIM
        if cfg.GAN.B_CONDITION:
            self.ca_net = CA_NET(cfg.TEXT.DIMENSION, cfg.GAN.EMBEDDING_DIM)
        branches = cfg.TREE.BRANCH_NUM
        if branches > 0:
            self.h_net1 = STACK_INIT_STAGE_G(cfg, self.gf_dim * 16)
            self.img_net1 = GET_IMAGE_G(self.gf_dim)
        if branches > 1:
            self.h_net2 = STACK_NEXT_STAGE_G(cfg, self.gf_dim, cfg.GAN.R_NUM)
            self.img_net2 = GET_IMAGE_G(self.gf_dim // 2)
        if branches > 2:
            self.h_net3 = STACK_NEXT_STAGE_G(cfg, self.gf_dim // 2, cfg.GAN.R_NUM)
            self.img_net3 = GET_IMAGE_G(self.gf_dim // 4)
        if branches > 3:
            self.h_net4 = STACK_NEXT_STAGE_G(cfg, self.gf_dim // 4, num_residual=1)
            self.img_net4 = GET_IMAGE_G(self.gf_dim // 8)

    def forward(self, z_code, text_embedding=None):
        if self.cfg.GAN.B_CONDITION and text_embedding is not None:
            c_code, mu, logvar = self.ca_net(text_embedding)
        else:
            c_code, mu, logvar = z_code, None, None
        fake_imgs = []
        branches = self.cfg.TREE.BRANCH_NUM
        h_code1 = self.h_net1(z_code, c_code)
        fake_imgs.append(self.img_net1(h_code1))
        if branches > 1:
            h_code2 = self.h_net2(h_code1, c_code)
            fake_imgs.append(self.img_net2(h_code2))
        if branches > 2:
            h_code3 = self.h_net3(h_code2, c_code)
            fake_imgs.append(self.img_net3(h_code3))
        if branches > 3:
            h_code4 = self.h_net4(h_code3, c_code)
            fake_imgs.append(self.img_net4(h_code4))
        return fake_imgs, mu, logvar


def randomized(module: nn.Module, seed: int) -> nn.Module:
    """Every parameter and BatchNorm statistic random (running variances positive), in eval mode."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in module.state_dict().items():
            if not tensor.is_floating_point():
                continue
            values = torch.randn(tensor.shape, generator=generator)
            if name.endswith("running_var"):
                values = values.abs() + 0.5
            elif tensor.dim() > 1:
                values = values / tensor[0].numel() ** 0.5  # keep activations of order one
            else:
                values = values * 0.2 + (1.0 if name.endswith(".weight") else 0.0)
            tensor.copy_(values)
    return module.eval()

